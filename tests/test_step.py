"""Node by node, one process each: how an orchestrator (Kubeflow Pipelines) executes the pipeline.

The IR is compiled once per run; every node then runs as `openct step` in a fresh process,
sharing only the pipeline root and a SQLite ML Metadata store. The first run must push a model;
the second run (one new span) must resolve the first run's blessed model as its baseline.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tfx.orchestration import metadata

from components.pusher import served_versions
from pipelines.config import REPO_ROOT, PipelineConfig
from pipelines.features import CHICAGO_TAXI
from pipelines.runners.step import read_ir
from pipelines.spans import cut_spans
from tests.taxi_sample import small_taxi_csv

pytestmark = pytest.mark.e2e


def openct(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"openct {' '.join(args[:3])}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"


def run_node_by_node(config: PipelineConfig, run_id: str, flags: list[str]) -> list[str]:
    ir_path = Path(config.pipeline_root).parent / f"ir-{run_id}.json"
    openct("compile-ir", "--out", str(ir_path), *flags)
    nodes = [n.pipeline_node.node_info.id for n in read_ir(ir_path).nodes]
    for node in nodes:
        openct("step", "--ir", str(ir_path), "--node", node, "--run-id", run_id, "--mlmd-sqlite", config.metadata)
    return nodes


def resolved_baseline_ids(config: PipelineConfig) -> list[list[int]]:
    """Model ids that each execution of the baseline_model resolver selected, oldest first."""
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(config.metadata)) as m:
        store = m.store
        context = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.baseline_model")
        selected = []
        for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
            events = store.get_events_by_execution_ids([execution.id])
            ids = [e.artifact_id for e in events if e.path.steps and e.path.steps[0].key == "model"
                   and e.type == e.INTERNAL_OUTPUT]
            selected.append(ids)
        models = {a.id for a in store.get_artifacts_by_type("Model")}
        return [[i for i in ids if i in models] for ids in selected]


def test_each_node_in_its_own_process(tmp_path):
    source = tmp_path / "source.csv"
    small_taxi_csv(source)
    config = PipelineConfig(data_root=str(tmp_path / "data"), pipeline_root=str(tmp_path / "pipeline"),
                            serving_dir=str(tmp_path / "serving"), window_spans=1, train_steps=300)
    flags = ["--data-root", config.data_root, "--pipeline-root", config.pipeline_root,
             "--serving-dir", config.serving_dir, "--window-spans", "1", "--train-steps", "300"]

    cut_spans(source, config.data_root, CHICAGO_TAXI.timestamp_column, 3, upto=1)
    nodes = run_node_by_node(config, "run-1", flags)
    assert nodes[-1] == "Pusher" and len(nodes) == 12
    assert served_versions(config.model_serving_dir) == [1]

    cut_spans(source, config.data_root, CHICAGO_TAXI.timestamp_column, 3, upto=2)
    run_node_by_node(config, "run-2", flags)
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(config.metadata)) as m:
        first_model = min(a.id for a in m.store.get_artifacts_by_type("Model"))
    baselines = resolved_baseline_ids(config)
    assert baselines == [[], [first_model]], baselines
