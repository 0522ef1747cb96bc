"""The compiled KFP spec, executed without a cluster: each task as its own process.

This is a local stand-in for the KFP backend (no Argo, no pods): it reads build/pipeline.yaml,
orders the root DAG's tasks by their dependencies and runs each task's container command and
arguments exactly as written, with placeholders substituted as KFP substitutes them (run
parameters, artifact paths, the job id shared by all tasks of a run). The only difference from a
cluster is the run parameters: local paths, and ML Metadata pointed at SQLite instead of KFP's
gRPC service. The first run must push a model; the second (one new span) must resolve the first
run's blessed model as its baseline.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tfx.orchestration import metadata

from components.pusher import served_versions
from pipelines.config import REPO_ROOT, PipelineConfig
from pipelines.features import CHICAGO_TAXI
from pipelines.spans import cut_spans
from tests import kfp_spec
from tests.taxi_sample import small_taxi_csv

pytestmark = pytest.mark.e2e


def execute(spec: dict[str, Any], job_id: str, parameters: dict[str, Any], workdir: Path) -> dict[str, dict[str, str]]:
    """Runs every task of the root DAG in dependency order; returns each task's output paths."""
    tasks = kfp_spec.root_tasks(spec)
    outputs: dict[str, dict[str, str]] = {}
    for name in kfp_spec.topological(tasks):
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        params = {}
        for key, value in task.get("inputs", {}).get("parameters", {}).items():
            params[key] = (parameters[value["componentInputParameter"]] if "componentInputParameter" in value
                           else value["runtimeValue"]["constant"])
        inputs = {key: outputs[a["taskOutputArtifact"]["producerTask"]][a["taskOutputArtifact"]["outputArtifactKey"]]
                  for key, a in task.get("inputs", {}).get("artifacts", {}).items()}
        outputs[name] = {key: str(workdir / job_id / name / key)
                         for key in component.get("outputDefinitions", {}).get("artifacts", {})}
        for path in outputs[name].values():
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        container = kfp_spec.container_of(spec, task)
        argv = [kfp_spec.substitute(a, job_id=job_id, parameters=params, inputs=inputs, outputs=outputs[name])
                for a in [*container.get("command", []), *container.get("args", [])]]
        proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})  # the image installs the package
        assert proc.returncode == 0, f"task {name}: {' '.join(argv)}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return outputs


def resolved_baseline_ids(config: PipelineConfig, store_path: str) -> list[list[int]]:
    """Model ids that each execution of the baseline_model resolver selected, oldest first."""
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(store_path)) as m:
        store = m.store
        context = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.baseline_model")
        selected = []
        for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
            events = store.get_events_by_execution_ids([execution.id])
            selected.append([e.artifact_id for e in events if e.type == e.INTERNAL_OUTPUT
                             and e.path.steps and e.path.steps[0].key == "model"])
        models = {a.id for a in store.get_artifacts_by_type("Model")}
        return [[i for i in ids if i in models] for ids in selected]


def test_compiled_spec_runs_task_by_task(tmp_path):
    spec, _ = kfp_spec.load(kfp_spec.compile_default())
    source = tmp_path / "source.csv"
    small_taxi_csv(source)
    store = tmp_path / "metadata.sqlite"
    parameters = {**{k: v["defaultValue"] for k, v in spec["root"]["inputDefinitions"]["parameters"].items()},
                  "data_root": str(tmp_path / "data"), "pipeline_root": str(tmp_path / "pipeline"),
                  "serving_dir": str(tmp_path / "serving"), "metadata": f"sqlite://{store}",
                  "window_spans": 1, "train_steps": 300}
    config = PipelineConfig(serving_dir=parameters["serving_dir"])

    cut_spans(source, parameters["data_root"], CHICAGO_TAXI.timestamp_column, 3, upto=1)
    first = execute(spec, "job-1", parameters, tmp_path / "runs")
    assert served_versions(config.model_serving_dir) == [1]
    views = {name: Path(paths["view"]).read_text() for name, paths in first.items() if "view" in paths}
    assert len(views) == len(kfp_spec.root_tasks(spec)) - 1  # every TFX node wrote its HTML view
    assert "facets" in views["statisticsgen"].lower()
    assert "No anomalies" in views["examplevalidator"]
    assert "BLESSED" in views["evaluator"] and "trip_start_hour" in views["evaluator"]
    assert "Pushed version 1" in views["pusher"]

    cut_spans(source, parameters["data_root"], CHICAGO_TAXI.timestamp_column, 3, upto=2)
    execute(spec, "job-2", parameters, tmp_path / "runs")
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(str(store))) as m:
        first_model = min(a.id for a in m.store.get_artifacts_by_type("Model"))
    assert resolved_baseline_ids(config, str(store)) == [[], [first_model]]
