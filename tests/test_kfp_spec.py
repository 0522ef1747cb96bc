"""The compiled KFP pipeline spec (`make compile` -> build/pipeline.yaml), checked offline.

A strict PipelineSpec parse alone accepts typos inside `deploymentSpec` (a Struct there), so the
deployment and the Kubernetes platform config are parsed strictly into their own messages too.
"""

from __future__ import annotations

import copy

import pytest
from google.protobuf import json_format
from kfp import components
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines.config import PipelineConfig
from pipelines.names import title
from pipelines.runners.kubeflow import RUN_PARAMETERS, KfpTarget, compile_kfp, tfx_dag
from tests import kfp_spec


@pytest.fixture(scope="module")
def compiled():
    path = kfp_spec.compile_default()
    spec, platform = kfp_spec.load(path)
    return path, spec, platform


def strict(message_type, value: dict):
    return json_format.ParseDict(value, message_type(), ignore_unknown_fields=False)


def test_strict_protobuf_parse(compiled):
    _, spec, platform = compiled
    parsed = strict(pipeline_spec_pb2.PipelineSpec, spec)
    assert parsed.schema_version == "2.1.0"
    strict(pipeline_spec_pb2.PipelineDeploymentConfig, spec["deploymentSpec"])
    strict(pipeline_spec_pb2.PlatformSpec, platform)
    for executor in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
        strict(k8s_pb2.KubernetesExecutorConfig, executor)


def test_strict_parse_catches_a_typo_in_the_deployment(compiled):
    _, spec, _ = compiled
    broken = copy.deepcopy(spec)
    executor = next(iter(broken["deploymentSpec"]["executors"].values()))
    executor["container"]["imagee"] = executor["container"].pop("image")
    strict(pipeline_spec_pb2.PipelineSpec, broken)  # the Struct hides the typo...
    with pytest.raises(json_format.ParseError, match="imagee"):  # ...the deployment parse does not
        strict(pipeline_spec_pb2.PipelineDeploymentConfig, broken["deploymentSpec"])


def test_every_reference_resolves(compiled):
    _, spec, platform = compiled
    executors = spec["deploymentSpec"]["executors"]
    for name, task in kfp_spec.root_tasks(spec).items():
        assert task["componentRef"]["name"] in spec["components"], name
        for dep in task.get("dependentTasks", []):
            assert dep in kfp_spec.root_tasks(spec), (name, dep)
        for art in task.get("inputs", {}).get("artifacts", {}).values():
            producer = art["taskOutputArtifact"]["producerTask"]
            assert producer in task["dependentTasks"], (name, producer)
    for name, component in spec["components"].items():
        assert component["executorLabel"] in executors, name
    for label in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]:
        assert label in executors, label


def test_task_dag_is_the_tfx_dag(compiled):
    """Every TFX node runs in exactly one task, in the IR's order; a resolver in its first
    consumer's task, before it; a task runs after every task that runs an upstream node of its
    nodes, and after nothing else, with one edge per dependency that no other implies (the KFP UI
    draws each as an edge: StaticFlow.ts:346-413 at KFP 2.17.0)."""
    _, spec, _ = compiled
    tasks = kfp_spec.root_tasks(spec)
    dag, resolvers = tfx_dag(PipelineConfig())
    runs_in = {n: name for name, t in tasks.items() for n in kfp_spec.nodes_of(spec, t)}
    assert sorted(runs_in) == sorted(dag)  # each node once
    expected: dict[str, set[str]] = {}
    order = list(dag)
    for name, task in tasks.items():
        nodes = kfp_spec.nodes_of(spec, task)
        if not nodes:
            assert name == kfp_spec.COMPILE_TASK and "dependentTasks" not in task
            continue
        assert nodes == sorted(nodes, key=order.index), name
        assert name == nodes[-1].lower() and nodes[-1] not in resolvers
        assert task["taskInfo"]["name"] == title(nodes[-1]) and len(title(nodes[-1])) <= 22  # the UI truncates
        for resolver in nodes[:-1]:
            assert resolver in resolvers
            assert nodes[-1] == next(n for n in order if resolver in dag[n])  # its first consumer
        expected[name] = {runs_in[u] for n in nodes for u in dag[n]} - {name}
        assert "artifacts" not in task.get("inputs", {}), name  # no artifact edges across the graph
    # The same order as the TFX DAG (the same ancestors per task), with no edge another implies.
    waits = {name: set(t.get("dependentTasks", [])) for name, t in tasks.items()}
    for name, ups in waits.items():
        if name == kfp_spec.COMPILE_TASK:
            continue
        assert closure(waits, name) == closure(expected, name) | {kfp_spec.COMPILE_TASK}, name
        assert not expected[name] or kfp_spec.COMPILE_TASK not in ups, name  # only the DAG's first nodes
        for up in ups:
            assert not any(up in closure(waits, other) for other in ups - {up}), (name, up)
    assert len(tasks) == len(dag) - len(resolvers) + 1  # no resolver task of its own
    kfp_spec.topological(tasks)  # acyclic


def closure(upstream: dict[str, set[str]], task: str) -> set[str]:
    """Every task `task` waits for, directly or not."""
    seen: set[str] = set()
    todo = list(upstream.get(task, ()))
    while todo:
        up = todo.pop()
        if up not in seen:
            seen.add(up)
            todo += upstream.get(up, ())
    return seen


def test_images_pinned_caching_off_resources_set(compiled):
    _, spec, _ = compiled
    for name, task in kfp_spec.root_tasks(spec).items():
        assert not task.get("cachingOptions", {}).get("enableCache", False), name
        container = kfp_spec.container_of(spec, task)
        image = container["image"]
        assert not image.endswith(":latest") and (":" in image.rsplit("/", 1)[-1] or "@sha256:" in image), image
        resources = container["resources"]
        assert {"resourceCpuRequest", "resourceMemoryRequest", "resourceMemoryLimit"} <= set(resources), name


def test_run_parameters_in_the_ui_form(compiled):
    _, spec, _ = compiled
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(RUN_PARAMETERS) | {"span", "metadata"} == set(params)
    assert all(p.get("description") for p in params.values())
    assert params["window_spans"]["defaultValue"] == PipelineConfig().window_spans
    # Every run parameter reaches the compile task, which builds this run's TFX IR from them.
    compile_args = kfp_spec.container_of(spec, kfp_spec.root_tasks(spec)[kfp_spec.COMPILE_TASK])["args"]
    for name in RUN_PARAMETERS:
        flag = "--" + name.replace("_", "-")
        assert compile_args[compile_args.index(flag) + 1] == f"{{{{$.inputs.parameters['{name}']}}}}"


def test_kfp_loads_it_as_a_component(compiled):
    path, _, _ = compiled
    component = components.load_component_from_file(str(path))
    assert component.name == PipelineConfig().pipeline_name


def test_same_sources_same_bytes(compiled, tmp_path):
    path, _, _ = compiled
    again = tmp_path / "again.yaml"
    kfp_spec.compile_default(again)
    assert again.read_bytes() == path.read_bytes()


def test_cloud_target_has_no_volumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cloud.yaml"
    compile_kfp(PipelineConfig(pipeline_root="gs://bucket/openct"), KfpTarget(use_pvc=False), out)
    assert not (tmp_path / "gs:").exists()  # compiling made no local directory of the gs:// root
    spec, platform = kfp_spec.load(out)
    assert platform == {}
    assert spec["root"]["inputDefinitions"]["parameters"]["pipeline_root"]["defaultValue"] == "gs://bucket/openct"


def test_unpinned_image_is_refused():
    for image in ("openct-pipeline", "openct-pipeline:latest", "registry:5000/openct"):
        with pytest.raises(ValueError, match="pin a tag"):
            KfpTarget(image=image)
    KfpTarget(image="registry:5000/openct@sha256:" + "0" * 64)


def test_no_backend_placeholder_in_container_args(compiled):
    """KFP 2.17.0 substitutes `{{$.pipeline_...}}` only as a task input's runtime constant
    (driver/resolve.go:422-454), never in command or args (driver/util.go:263-288,
    component/launcher_v2.go:1051-1173): written there, every run would share one literal run id."""
    _, spec, _ = compiled
    for label, executor in spec["deploymentSpec"]["executors"].items():
        container = executor["container"]
        for item in [*container.get("command", []), *container.get("args", [])]:
            assert "{{$.pipeline_" not in item, (label, item)
    for name, task in kfp_spec.root_tasks(spec).items():  # the compile task too: the IR's path has it
        assert task["inputs"]["parameters"]["run_id"] == {"runtimeValue": {"constant": "{{$.pipeline_job_uuid}}"}}, name


def test_stand_in_substitutes_only_what_the_backend_does(compiled):
    """The offline executor's substitution (tests/kfp_spec.py) against the backend's rules."""
    _, spec, _ = compiled
    task = kfp_spec.root_tasks(spec)["trainer"]
    run = kfp_spec.KfpRun(run_id="6f1c")
    run_id = kfp_spec.driver_constant("{{$.pipeline_job_uuid}}", run, "trainer")
    assert (
        run_id == "6f1c"
        and kfp_spec.driver_constant("run-{{$.pipeline_job_uuid}}", run, "t") == "run-{{$.pipeline_job_uuid}}"
    )
    artifacts = {"{{$.outputs.artifacts['view'].path}}": "/minio/v"}
    params = {"metadata": "grpc://m:8080", "run_id": run_id, "pipeline_root": "/mnt/openct/tfx"}
    argv = kfp_spec.task_argv(spec, task, params, artifacts)
    assert argv[argv.index("--run-id") + 1] == "6f1c" and argv[argv.index("--pipeline-root") + 1] == "/mnt/openct/tfx"
    literal = copy.deepcopy(spec)  # the pre-fix spec: the placeholder written into the args
    args = kfp_spec.container_of(literal, task)["args"]
    args[args.index("{{$.inputs.parameters['run_id']}}")] = "{{$.pipeline_job_uuid}}"
    with pytest.raises(AssertionError, match="unsubstituted"):
        kfp_spec.task_argv(literal, task, params, artifacts)
    with pytest.raises(AssertionError, match="not found in executor input"):
        kfp_spec.task_argv(spec, task, {k: v for k, v in params.items() if k != "run_id"}, artifacts)


@pytest.mark.parametrize(
    "value, driver, launcher",
    [
        # Printed by Go 1.26's fmt.Sprintf("%g") / strconv.FormatFloat(v, 'f', -1, 64) on this machine.
        (3, "3", "3"),
        (300.0, "300", "300"),
        (0.5, "0.5", "0.5"),
        (0.65, "0.65", "0.65"),
        (1e-7, "1e-07", "0.0000001"),
        (0.0001, "0.0001", "0.0001"),
        (1234567.5, "1.2345675e+06", "1234567.5"),
        (-2.5, "-2.5", "-2.5"),
        (True, "true", "true"),
        ("grpc://m:8080", "grpc://m:8080", "grpc://m:8080"),
    ],
)
def test_parameter_text_as_the_backend_prints_it(value, driver, launcher):
    assert kfp_spec.driver_text(value) == driver and kfp_spec.launcher_text(value) == launcher


def test_every_task_calls_a_command_the_cli_still_has(compiled):
    """Uploaded specs keep calling `python3 -m pipelines.cli compile-ir|step ...` after any CLI
    change: each task's argv (placeholders given a number, which every flag accepts) must parse to
    the same task command."""
    import re

    from pipelines.cli import build_parser, tasks

    _, spec, _ = compiled
    parser = build_parser()
    seen = set()
    for name, task in kfp_spec.root_tasks(spec).items():
        container = kfp_spec.container_of(spec, task)
        argv = [re.sub(r"\{\{\$[^}]*\}\}", "1", str(a)) for a in [*container["command"], *container.get("args", [])]]
        assert argv[:3] == ["python3", "-m", "pipelines.cli"], name
        args = parser.parse_args(argv[3:])
        assert args.fn in (tasks.cmd_compile_ir, tasks.cmd_step), name
        seen.add(args.command)
    assert seen == {"compile-ir", "step"}


def test_with_alerting_every_task_runs_inside_an_exit_handler_whose_task_alerts(tmp_path):
    """Alerts configured: the DAG sits in an ExitHandler whose exit task (`openct alert`) runs when
    it ends, however (ALL_UPSTREAM_TASKS_COMPLETED: KFP 2.17 compiles it into an Argo exit lifecycle
    hook, backend/src/v2/compiler/argocompiler/dag.go:60-106); without alerts no such task."""
    from pipelines import cli

    out = tmp_path / "alerting.yaml"
    config = PipelineConfig(alert_webhook_url="http://hooks.example:9000/openct")
    compile_kfp(config, KfpTarget(), out)
    spec, platform = kfp_spec.load(out)
    strict(pipeline_spec_pb2.PipelineSpec, spec)
    root = kfp_spec.root_tasks(spec)
    assert set(root) == {"exit-handler-1", "alert"}
    assert root["alert"]["triggerPolicy"] == {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    assert root["alert"]["dependentTasks"] == ["exit-handler-1"]
    inner = spec["components"][root["exit-handler-1"]["componentRef"]["name"]]["dag"]["tasks"]
    default = kfp_spec.root_tasks(kfp_spec.load(kfp_spec.compile_default())[0])
    assert set(inner) == set(default)  # every task of the plain pipeline, inside the handler
    container = kfp_spec.container_of(spec, root["alert"])
    argv = kfp_spec.driver_args(
        [*container["command"], *container["args"]], {"run_id": "6f1c", "metadata": "grpc://m:8080"}
    )
    args = cli.build_parser().parse_args(argv[3:])
    assert args.fn.__name__ == "cmd_alert" and args.run_id == "6f1c" and args.metadata == "grpc://m:8080"
    assert args.alert_webhook_url == config.alert_webhook_url
    # it reads the failed gate's inputs from the pipeline volume: mounted like the node tasks'
    mounts = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-alert"]["pvcMount"]
    assert [m["mountPath"] for m in mounts] == [KfpTarget().pipeline_mount]
