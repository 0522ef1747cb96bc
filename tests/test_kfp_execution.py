"""The compiled KFP spec, executed without a cluster: each task as its own process.

A stand-in for the KFP 2.17.0 backend (no Argo, no pods) that does only what the backend does
(tests/kfp_spec.py cites the Go source for each step): it orders the root DAG's tasks by their
dependencies; resolves each task's input parameters as the driver does (run parameters, and
`runtimeValue.constant`s with the driver's own placeholder list: `{{$.pipeline_job_uuid}}` is the
run id there and nowhere else); substitutes in command and args what the driver and then the
launcher substitute, with their number formatting; and gives output artifacts the launcher's
path shape (`/minio/mlpipeline/v2/artifacts/<pipeline>/<run id>/<task>/<uuid>/<name>`, rooted in
a temporary directory). A placeholder the backend would leave as literal text fails the test.
Differences from a cluster, on purpose: local paths for the run parameters, ML Metadata on
SQLite instead of KFP's gRPC service, and no object-store upload (the files stay where written).

Two runs: the first pushes version 1; the second, after a new span arrives, must ingest it, train
and push version 2 under its own TFX run id (with a literal run id it would be a cached no-op).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.versions import served_versions
from pipelines import lineage
from pipelines.config import REPO_ROOT, PipelineConfig
from pipelines.data.dataset import CHICAGO_TAXI
from pipelines.data.spans import cut_spans
from pipelines.runners.kubeflow import project_version
from tests import kfp_spec
from tests.taxi_sample import small_taxi_csv

pytestmark = pytest.mark.e2e


Launch = Callable[[str, list[str]], subprocess.CompletedProcess]


def run_here(task: str, argv: list[str]) -> subprocess.CompletedProcess:
    """A task as a process of this checkout (the image installs the package; here PYTHONPATH)."""
    return subprocess.run(
        argv,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def execute(
    spec: dict[str, Any],
    run: kfp_spec.KfpRun,
    parameters: dict[str, Any],
    mount: Path,
    launch: Launch = run_here,
    fails_at: str | None = None,
) -> dict[str, dict[str, str]]:
    """Runs every task of the root DAG in dependency order; returns each task's output paths.
    `launch` runs one task's argv: here, in the pipeline image, or in a pod. A failure of task
    `fails_at` ends the run there (its log under outputs[fails_at]["log"])."""
    tasks = kfp_spec.root_tasks(spec)
    pipeline = spec["pipelineInfo"]["name"]
    uris: dict[str, dict[str, str]] = {}
    outputs: dict[str, dict[str, str]] = {}
    for name in kfp_spec.topological(tasks):
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        params = {}
        for key, value in task.get("inputs", {}).get("parameters", {}).items():
            params[key] = (
                parameters[value["componentInputParameter"]]
                if "componentInputParameter" in value
                else kfp_spec.driver_constant(value["runtimeValue"]["constant"], run, name)
            )
        artifacts: dict[str, str] = {}
        for key, a in task.get("inputs", {}).get("artifacts", {}).items():
            uri = uris[a["taskOutputArtifact"]["producerTask"]][a["taskOutputArtifact"]["outputArtifactKey"]]
            artifacts |= {
                f"{{{{$.inputs.artifacts['{key}'].uri}}}}": uri,
                f"{{{{$.inputs.artifacts['{key}'].path}}}}": kfp_spec.local_path(uri, mount),
            }
        uris[name] = {
            key: kfp_spec.artifact_uri(pipeline, run, name, key)
            for key in component.get("outputDefinitions", {}).get("artifacts", {})
        }
        outputs[name] = {key: kfp_spec.local_path(uri, mount) for key, uri in uris[name].items()}
        for key, uri in uris[name].items():
            artifacts |= {
                f"{{{{$.outputs.artifacts['{key}'].uri}}}}": uri,
                f"{{{{$.outputs.artifacts['{key}'].path}}}}": outputs[name][key],
            }
            Path(outputs[name][key]).parent.mkdir(parents=True, exist_ok=True)  # the launcher prepares it
        argv = kfp_spec.task_argv(spec, task, params, artifacts)
        started = time.monotonic()
        proc = launch(name, argv)
        if proc.returncode and name == fails_at:  # Argo stops the DAG at a failed task
            outputs[name]["log"] = proc.stdout + proc.stderr
            return outputs
        assert proc.returncode == 0, f"task {name}: {' '.join(argv)}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        print(f"task {name}: {time.monotonic() - started:.1f} s")  # pytest -s shows the per-task times
    return outputs


def resolved_baseline_ids(config: PipelineConfig, store_path: str) -> list[list[int]]:
    """Model ids that each execution of the baseline_model resolver selected, oldest first."""
    with lineage.open_store(store_path) as store:
        context = store.get_context_by_type_and_name("node", f"{config.pipeline_name}.baseline_model")
        selected = []
        for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
            events = store.get_events_by_execution_ids([execution.id])
            selected.append(
                [
                    e.artifact_id
                    for e in events
                    if e.type == e.INTERNAL_OUTPUT and e.path.steps and e.path.steps[0].key == "model"
                ]
            )
        models = {a.id for a in store.get_artifacts_by_type("Model")}
        return [[i for i in ids if i in models] for ids in selected]


def local_parameters(spec: dict[str, Any], root: Path) -> dict[str, Any]:
    """Run parameters with local paths. Gate thresholds any trained model passes: these tests are
    about orchestration (the gate's own decisions are tested in tests/test_e2e.py)."""
    return {
        **{k: v["defaultValue"] for k, v in spec["root"]["inputDefinitions"]["parameters"].items()},
        "data_root": str(root / "data"),
        "pipeline_root": str(root / "pipeline"),
        "serving_dir": str(root / "serving"),
        "metadata": f"sqlite://{root / 'metadata.sqlite'}",
        "window_spans": 1,
        "train_steps": 300,
        "min_auc": 0.0,
        "min_accuracy": 0.0,
        "max_auc_drop": 1.0,
    }


def test_compiled_spec_runs_task_by_task(tmp_path):
    spec, _ = kfp_spec.load(kfp_spec.compile_default())
    source = tmp_path / "source.csv"
    small_taxi_csv(source)
    store = tmp_path / "metadata.sqlite"
    parameters = local_parameters(spec, tmp_path)
    config = PipelineConfig(serving_dir=parameters["serving_dir"])
    runs = [kfp_spec.KfpRun(run_id=str(uuid.uuid4())) for _ in range(2)]

    cut_spans(source, parameters["data_root"], CHICAGO_TAXI.timestamp_column, 3, upto=1)
    first = execute(spec, runs[0], parameters, tmp_path / "pod")
    assert served_versions(config.model_serving_dir) == [1]
    views = {name: Path(paths["view"]).read_text() for name, paths in first.items() if "view" in paths}
    assert len(views) == len(kfp_spec.root_tasks(spec))  # every task wrote its HTML view
    assert "This run ingests <b>span 1</b>" in views["compile-ir"]  # what the run does, before it does it
    assert "trip_start_hour" in views["statisticsgen"]  # the offline statistics table
    assert "No anomalies" in views["examplevalidator"]
    assert "BLESSED" in views["evaluator"] and "trip_start_hour" in views["evaluator"]
    assert "Pushed version 1" in views["pusher"]

    cut_spans(source, parameters["data_root"], CHICAGO_TAXI.timestamp_column, 3, upto=2)
    second = execute(spec, runs[1], parameters, tmp_path / "pod")
    assert served_versions(config.model_serving_dir) == [1, 2]
    assert "Pushed version 2" in Path(second["pusher"]["view"]).read_text()
    # Each KFP run is its own TFX pipeline run, named by the KFP run id, and ingests its new span
    # (as `openct ct history` reads them from ML Metadata).
    with lineage.open_store(f"sqlite://{store}") as m:
        history = lineage.runs(m, config.pipeline_name)
    assert [(r.run_id, r.spans, r.outcome) for r in history] == [
        (runs[0].run_id, [1], "pushed v1"),
        (runs[1].run_id, [2], "pushed v2"),
    ]
    with lineage.open_store(str(store)) as m:
        first_model = min(a.id for a in m.get_artifacts_by_type("Model"))
    assert resolved_baseline_ids(config, str(store)) == [[], [first_model]]

    # A span whose label input is zero on every row: the gate task fails, and its view, which KFP's
    # launcher does not upload for a failed command (launcher_v2.go:715-716 at KFP 2.17.0), is on
    # the pipeline volume with the anomaly named; nothing is pushed.
    data = Path(parameters["data_root"])
    cut_spans(source, data, CHICAGO_TAXI.timestamp_column, 3, upto=3)
    span = data / "span-3" / "data.csv"
    header, *rows = span.read_text().splitlines()
    tips = header.split(",").index("tips")
    span.write_text(
        "\n".join([header] + [",".join(v if i != tips else "0" for i, v in enumerate(r.split(","))) for r in rows])
        + "\n"
    )
    third = kfp_spec.KfpRun(run_id=str(uuid.uuid4()))
    blocked = execute(spec, third, parameters, tmp_path / "pod", fails_at="validationgate")
    assert "pusher" not in blocked and "big_tipper" in blocked["validationgate"]["log"]
    page = Path(parameters["pipeline_root"]) / "views" / third.run_id / "ValidationGate.html"
    assert "big_tipper" in page.read_text() and "LABEL" in page.read_text()
    assert served_versions(config.model_serving_dir) == [1, 2]
    assert (Path(parameters["pipeline_root"]) / "views" / runs[0].run_id / "Pusher.html").exists()


IMAGE = os.environ.get("OPENCT_TEST_IMAGE", f"openct-pipeline:{project_version()}")


@functools.cache  # probes Docker once per session, not per use
def _image_problem() -> str | None:
    if not shutil.which("docker") or subprocess.run(["docker", "info"], capture_output=True).returncode:
        return "needs a running Docker engine (make engine)"
    found = subprocess.run(
        ["docker", "image", "inspect", "-f", '{{index .Config.Labels "org.opencontainers.image.revision"}}', IMAGE],
        capture_output=True,
        text=True,
    )
    if found.returncode:
        return f"needs the pipeline image {IMAGE} (make image, or OPENCT_TEST_IMAGE)"
    head = os.environ.get("OPENCT_GIT_COMMIT")  # exported by the Makefile
    if head and found.stdout.strip() != head:  # the image holds its own copy of our code
        return f"the image {IMAGE} was built from commit {found.stdout.strip()}, this checkout is {head}: make image"
    return None


@pytest.mark.cluster
@pytest.mark.skipif(_image_problem() is not None, reason=str(_image_problem()))
def test_compiled_spec_runs_in_the_pipeline_image(tmp_path):
    """The same tasks in the image `make image` built, as KFP's pods run them: uid 10001, the
    image's own Python and packages (not this checkout's), the volume mounted at the same path."""
    root = tmp_path / "volume"
    root.mkdir(mode=0o777)
    root.chmod(0o777)  # the task user (10001) writes here, as on the kind volumes
    spec, _ = kfp_spec.load(kfp_spec.compile_default(tmp_path / "pipeline.yaml"))
    parameters = local_parameters(spec, root)
    small_taxi_csv(tmp_path / "source.csv")
    cut_spans(tmp_path / "source.csv", parameters["data_root"], CHICAGO_TAXI.timestamp_column, 3, upto=1)
    docker = ["docker", "run", "--rm", "--user", "10001:10001", "-e", "HOME=/tmp", "-v", f"{root}:{root}", IMAGE]
    run_one_version(
        spec,
        root,
        parameters,
        lambda task, argv: subprocess.run([*docker, *argv], capture_output=True, text=True, timeout=900),
    )


def run_one_version(spec: dict[str, Any], root: Path, parameters: dict[str, Any], launch: Launch) -> None:
    """One run of the spec on one span: version 1 pushed, the Pusher's view says so."""
    previous = os.umask(0)  # output directories the stand-in launcher creates are the task's to write
    try:
        outputs = execute(spec, kfp_spec.KfpRun(run_id=str(uuid.uuid4())), parameters, root / "pod", launch)
    finally:
        os.umask(previous)
    assert served_versions(PipelineConfig(serving_dir=parameters["serving_dir"]).model_serving_dir) == [1]
    assert "Pushed version 1" in Path(outputs["pusher"]["view"]).read_text()


KIND_VOLUMES = REPO_ROOT / "build" / "kind-volumes"  # the host side of the node's /var/local/openct
NODE_VOLUMES = "/var/local/openct"  # deploy/kind-cluster.yaml


@functools.cache
def _kind_problem() -> str | None:
    if _image_problem():  # `make image` loads the image it builds into the node
        return _image_problem()
    if not shutil.which("kubectl") or subprocess.run(["kubectl", "get", "nodes"], capture_output=True).returncode:
        return "needs a reachable cluster (make cluster; inside the environment KUBECONFIG must be readable)"
    if not (KIND_VOLUMES / "pipeline").is_dir():
        return f"needs {KIND_VOLUMES}/pipeline (make cluster)"
    return None


def in_pod(task: str, argv: list[str]) -> subprocess.CompletedProcess:
    """A task as a pod on the cluster, as KFP's pods run it (image, uid 10001, the volume), without
    KFP's driver and launcher: the node's volume directory is mounted at the same absolute path
    as on the host, so every path in the argv means the same file on both sides."""
    name = f"openct-{task}-{uuid.uuid4().hex[:6]}"
    container = {
        "name": "main",
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "args": argv,
        "env": [{"name": "HOME", "value": "/tmp"}],
        "volumeMounts": [{"name": "volume", "mountPath": str(KIND_VOLUMES)}],
    }
    pod = {
        "apiVersion": "v1",
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsUser": 10001, "runAsGroup": 10001},
            "containers": [container],
            "volumes": [{"name": "volume", "hostPath": {"path": NODE_VOLUMES, "type": "Directory"}}],
        },
    }
    return subprocess.run(
        [
            "kubectl",
            "run",
            name,
            f"--image={IMAGE}",
            "--restart=Never",
            "--rm",
            "-i",
            "--quiet",
            "--pod-running-timeout=5m",
            f"--overrides={json.dumps(pod)}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.cluster
@pytest.mark.skipif(_kind_problem() is not None, reason=str(_kind_problem()))
def test_compiled_spec_runs_as_pods_on_kind():
    """Every task of the spec as a pod on the kind cluster (real Kubernetes: scheduling, the image
    `make image` loaded into the node, the hostPath volume). Not KFP: no driver, launcher or Argo."""
    root = KIND_VOLUMES / "pipeline" / f"test-{uuid.uuid4().hex[:8]}"
    root.mkdir(mode=0o777)
    root.chmod(0o777)
    spec, _ = kfp_spec.load(kfp_spec.compile_default(root / "pipeline.yaml"))
    parameters = local_parameters(spec, root)
    small_taxi_csv(root / "source.csv")
    cut_spans(root / "source.csv", parameters["data_root"], CHICAGO_TAXI.timestamp_column, 3, upto=1)
    run_one_version(spec, root, parameters, in_pod)
