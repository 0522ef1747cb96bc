"""Kubeflow Pipelines adapter: the TFX pipeline as a KFP v2 pipeline spec for open-source KFP 2.x.

TFX's own `KubeflowV2DagRunner` targets Vertex AI; its output does not run on open-source KFP
(resolver nodes are rejected, ExampleGen's span driver never runs; docs/architecture.md, "Why not TFX's Kubeflow runner"). So the spec is
built with the kfp SDK and compiled by kfp's compiler, with one container task per TFX node:

    compile-ir   `openct compile-ir` with the run's parameters -> the TFX IR, written to
                 <pipeline_root>/runs/<run id>/ (launcher.run_ir_path), and a page of what the
                 run will do
    <node>       `openct step --node <id> --run-id <run id>` for every TFX node, in the TFX DAG's
                 order, each reading that IR, writing an HTML view; the run id is a task input
                 set from `{{$.pipeline_job_uuid}}`, which KFP's driver resolves to the run's id;
                 a resolver node runs in its first consumer's task (`--node <resolver> --node
                 <id>`: task_groups)

The task graph is the TFX DAG's order: a task waits for the tasks of its nodes' upstream nodes
(less those another of them already waits for: transitive_reduction), and the DAG's first nodes
for compile-ir. The KFP UI draws the run from the spec, a task-to-task edge per
`dependentTasks` entry and an artifact node per output artifact, with an edge to every task that
takes it as input (frontend/src/lib/v2/StaticFlow.ts:126-149,304-413 at KFP 2.17.0). So the only
artifacts are the views, one under each task, and the IR is not one: as an input of every node
task it drew eleven edges across the graph. Tasks carry a person's name for their node
(pipelines.names.TITLES); the TFX node id is the task's name and the view's first line.

Every node task runs TFX's portable launcher for one node (pipelines.runners.launcher), the
code path of the local runner, against Kubeflow's ML Metadata service: resolvers, `{SPAN}`
resolution, TFX caching and lineage behave as in local runs. KFP-level caching is off (TFX caches). The IR is
compiled once per run, inside the run, because TFX runtime parameters cannot reach the resolver
window or the Evaluator's thresholds; the run's parameters are therefore `openct` config flags.
"""

# No `from __future__ import annotations`: kfp reads the real annotations of component functions.
import dataclasses
import functools
import hashlib
import inspect
import tomllib
from pathlib import Path
from typing import Any

from kfp import compiler, dsl, kubernetes

from pipelines.config import REPO_ROOT, PipelineConfig
from pipelines.names import Node, title

PYTHON = ["python3", "-m", "pipelines.cli"]  # the image's venv python; the same locally
# Run parameters shown in the KFP UI run form; each is the `openct` config field of that name.
RUN_PARAMETERS = (
    "data_root",
    "window_spans",
    "train_steps",
    "min_auc",
    "min_accuracy",
    "max_auc_drop",
    "pipeline_root",
    "serving_dir",
)
# Set when the spec is compiled (they shape the graph or the model, not a single run).
COMPILE_TIME = (
    "pipeline_name",
    "dataset",
    "model_name",
    "span_months",
    "batch_size",
    "learning_rate",
    "hidden_units",
    "early_stopping_patience",
    "analyzer_cache",
    "warm_start",
    "beam_args",
    "eval_max_rows",
)

# (cpu request, memory request, memory limit) per node; no CPU limit, so a task uses idle cores.
# CPU requests only reserve: they must let the DAG's widest step schedule on a 2-CPU kind node
# next to kind's system pods and KFP. Each KFP 2.17.0 task is a driver pod (100m request,
# backend/src/v2/compiler/argocompiler/argo.go:555-564) and an executor pod, whose request is at
# least its launcher init container's 100m (argo.go:570-578; a pod's effective request is the
# larger of its largest init container and the sum of its containers). So a task asking for less
# than 100m reserves 100m anyway, and a heavy task's larger request would only keep the small tasks
# beside it from scheduling (seen on a real KFP: Transform at 500m stayed Pending). Memory requests
# cover what a task process holds: importing TFX alone is about 1.2 GB resident.
# tests/test_deploy.py sums the widest step's requests against the node.
RESOURCES: dict[str, tuple[str, str, str]] = {
    Node.EXAMPLE_GEN: ("100m", "1Gi", "3Gi"),
    Node.STATISTICS_GEN: ("100m", "1Gi", "3Gi"),
    Node.TRANSFORM: ("100m", "1536Mi", "6Gi"),
    Node.TRAINER: ("100m", "1536Mi", "6Gi"),
    Node.EVALUATOR: ("100m", "1536Mi", "6Gi"),
}
SMALL = ("50m", "1Gi", "2Gi")  # compile-ir, resolvers, the gate, ImportSchemaGen, Pusher


def project_version() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


@dataclasses.dataclass(frozen=True)
class KfpTarget:
    """Where the compiled pipeline runs: image, storage and metadata service of the cluster."""

    image: str = f"openct-pipeline:{project_version()}"  # `make image` builds and `kind load`s it
    pipeline_pvc: str = "openct-pipeline"  # TFX pipeline root, spans, MLMD-independent files
    pipeline_mount: str = "/mnt/openct"
    models_pvc: str = "openct-models"  # pushed models, read by TF Serving
    models_mount: str = "/mnt/models"
    metadata: str = "grpc://metadata-grpc-service.kubeflow:8080"  # KFP's ML Metadata gRPC service
    use_pvc: bool = True  # False for a cloud configuration (gs:// roots, no volumes)

    def __post_init__(self) -> None:
        name, _, tag = self.image.rpartition(":")
        if "@sha256:" not in self.image and (not name or not tag or "/" in tag or tag == "latest"):
            raise ValueError(f"image {self.image!r}: pin a tag (not 'latest') or a digest")

    def defaults(self, config: PipelineConfig) -> dict[str, Any]:
        """Run parameter defaults: the config's values, with paths on the cluster's volumes."""
        values = {name: getattr(config, name) for name in RUN_PARAMETERS}
        if self.use_pvc:
            values.update(
                data_root=f"{self.pipeline_mount}/data",
                pipeline_root=f"{self.pipeline_mount}/tfx",
                serving_dir=self.models_mount,
            )
        return values


def tfx_dag(config: PipelineConfig) -> tuple[dict[str, list[str]], set[str]]:
    """TFX node id -> upstream node ids, in the IR's topological order; and the resolver nodes
    (they select artifacts from ML Metadata and run no executor)."""
    from pipelines.pipeline.dag import create_pipeline
    from pipelines.runners.launcher import compile_ir, nodes

    ir_nodes = nodes(compile_ir(create_pipeline(config)))
    dag = {node.node_info.id: list(node.upstream_nodes) for node in ir_nodes}
    return dag, {n.node_info.id for n in ir_nodes if n.node_info.type.name.endswith(".Resolver")}


def task_groups(dag: dict[str, list[str]], resolvers: set[str]) -> dict[str, list[str]]:
    """KFP task (named after its node) -> the TFX nodes it runs, in the IR's order.

    Every node is a task of its own except a resolver, which runs in the task of its first
    consumer, just before it. On KFP 2.17 each task costs a driver pod and an executor pod (about
    19 s per task measured on kind, for a resolver's 0.1 s of work: docs/results.md), and two of
    the four resolvers sat on the critical path. In one task the resolver still runs as its own
    TFX node: its own execution, lineage and cache in ML Metadata, as in a local run."""
    consumers = {n: [m for m in dag if n in dag[m]] for n in dag}
    host = {n: consumers[n][0] for n in dag if n in resolvers and consumers[n]}
    groups: dict[str, list[str]] = {n: [] for n in dag if n not in host}
    for node in dag:  # topological: a resolver comes before its consumer
        groups[host.get(node, node)].append(node)
    return groups


def transitive_reduction(upstream: dict[str, list[str]]) -> dict[str, list[str]]:
    """The same order with the fewest edges: an upstream task is dropped where another upstream
    task of the same task already waits for it (Curated schema -> Transform, when Transform waits
    for the gate, which waits for the anomalies, which wait for the schema). Argo runs a task once
    all its dependencies are done, so the reduced DAG runs the same tasks in the same order; the KFP
    UI draws one edge per dependency, and the TFX DAG's direct edges crossed the whole graph."""
    ancestors: dict[str, set[str]] = {}

    def of(task: str) -> set[str]:
        if task not in ancestors:
            ancestors[task] = {a for u in upstream[task] for a in (u, *of(u))}
        return ancestors[task]

    return {
        task: sorted(u for u in ups if not any(u in of(v) for v in ups if v != u)) for task, ups in upstream.items()
    }


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _constant_flags(config: PipelineConfig) -> list[str]:
    args: list[str] = []
    for name in COMPILE_TIME:
        value = getattr(config, name)
        if isinstance(value, bool):
            args.append(_flag(name) if value else "--no-" + name.replace("_", "-"))
        elif value != "":
            args += [_flag(name), str(value)]
    return args


def _compile_ir_component(image: str, constants: list[str]):
    @dsl.container_component
    def compile_ir(
        data_root: str,
        span: int,
        window_spans: int,
        train_steps: int,
        min_auc: float,
        min_accuracy: float,
        max_auc_drop: float,
        pipeline_root: str,
        serving_dir: str,
        run_id: str,
        view: dsl.Output[dsl.HTML],
    ):
        """Compiles the TFX pipeline with this run's parameters into TFX IR."""
        return dsl.ContainerSpec(
            image=image,
            command=[*PYTHON, "compile-ir"],
            args=[
                "--run-id",
                run_id,
                "--view",
                view.path,
                "--span",
                span,
                "--data-root",
                data_root,
                "--window-spans",
                window_spans,
                "--train-steps",
                train_steps,
                "--min-auc",
                min_auc,
                "--min-accuracy",
                min_accuracy,
                "--max-auc-drop",
                max_auc_drop,
                "--pipeline-root",
                pipeline_root,
                "--serving-dir",
                serving_dir,
                *constants,
            ],
        )

    return compile_ir


def _node_component(image: str, node_ids: list[str]):
    # The run id is an input parameter, not `{{$.pipeline_job_uuid}}` in the args: KFP 2.17.0
    # substitutes that placeholder only as the constant value of a task input parameter (driver,
    # backend/src/v2/driver/resolve.go, the runtime-value branch of resolveInputs); the launcher
    # substitutes in args only inputs, outputs and `{{$}}` (backend/src/v2/component/
    # launcher_v2.go, getPlaceholders). Written into the args, every task of every run would get
    # the literal text as its TFX run id, and from the second run on TFX would find the first
    # run's executions in that pipeline-run context and do nothing.
    node_id = node_ids[-1]
    node_flags = [flag for n in node_ids for flag in ("--node", n)]

    def node(pipeline_root: str, metadata: str, run_id: str, view: dsl.Output[dsl.HTML]):
        return dsl.ContainerSpec(
            image=image,
            command=[*PYTHON, "step"],
            args=[
                "--pipeline-root",
                pipeline_root,
                *node_flags,
                "--run-id",
                run_id,
                "--metadata",
                metadata,
                "--view",
                view.path,
            ],
        )

    node.__name__ = node.__qualname__ = node_id  # the component (and task) is named after the node
    before = f" after resolver(s) {', '.join(node_ids[:-1])}" if len(node_ids) > 1 else ""
    node.__doc__ = f"TFX node {node_id}{before}, run by TFX's launcher (openct step)."
    return dsl.container_component(node)


def _alert_component(image: str, config: PipelineConfig):
    """The exit handler's task: `openct alert` reads the run's outcome from ML Metadata and alerts
    (pipelines.alerts). The destinations are compiled in, like the other constant settings."""
    constants = [
        *("--pipeline-name", config.pipeline_name),
        *("--alertmanager-url", config.alertmanager_url),
        *("--alert-webhook-url", config.alert_webhook_url),
    ]

    @dsl.container_component
    def alert(metadata: str, run_id: str):
        """After the run, whatever its end: alert on a blocked span, a failure, a model not blessed."""
        return dsl.ContainerSpec(
            image=image, command=[*PYTHON, "alert"], args=[*constants, "--run-id", run_id, "--metadata", metadata]
        )

    return alert


def build_pipeline(config: PipelineConfig, target: KfpTarget):
    """The kfp pipeline (a GraphComponent) for `config`, to compile with kfp's compiler."""
    dag, resolvers = tfx_dag(config)
    groups = task_groups(dag, resolvers)
    host = {node: task for task, members in groups.items() for node in members}
    upstream = transitive_reduction(
        {task: sorted({host[u] for n in members for u in dag[n]} - {task}) for task, members in groups.items()}
    )
    defaults = target.defaults(config)
    compile_component = _compile_ir_component(target.image, _constant_flags(config))
    node_components = {task: _node_component(target.image, members) for task, members in groups.items()}

    def configure(task: dsl.PipelineTask, resources: tuple[str, str, str], models: bool = False) -> None:
        cpu, memory, memory_limit = resources
        task.set_caching_options(False)  # TFX decides what is cached, from ML Metadata
        task.set_cpu_request(cpu).set_memory_request(memory).set_memory_limit(memory_limit)
        if target.use_pvc:
            kubernetes.mount_pvc(task, pvc_name=target.pipeline_pvc, mount_path=target.pipeline_mount)
            if models:
                kubernetes.mount_pvc(task, pvc_name=target.models_pvc, mount_path=target.models_mount)

    @dsl.pipeline(
        name=config.pipeline_name,
        description=f"openct continuous training: TFX pipeline '{config.pipeline_name}', "
        f"dataset {config.dataset}, one task per TFX node",
    )
    def kfp_pipeline(
        data_root: str = defaults["data_root"],
        span: int = 0,
        window_spans: int = defaults["window_spans"],
        train_steps: int = defaults["train_steps"],
        min_auc: float = defaults["min_auc"],
        min_accuracy: float = defaults["min_accuracy"],
        max_auc_drop: float = defaults["max_auc_drop"],
        pipeline_root: str = defaults["pipeline_root"],
        serving_dir: str = defaults["serving_dir"],
        metadata: str = target.metadata,
    ):
        """Continuous training run over the newest span (or `span`).

        Args:
            data_root: Spans as <data_root>/span-<N>/data.csv.
            span: Span to ingest; 0 means the newest under data_root.
            window_spans: Train on the latest N spans that passed validation.
            train_steps: Upper bound on training steps (early stopping may end sooner).
            min_auc: Evaluator gate: absolute AUC lower bound (overall slice).
            min_accuracy: Evaluator gate: absolute binary accuracy lower bound.
            max_auc_drop: Evaluator gate: allowed AUC drop against the latest blessed model.
            pipeline_root: TFX artifacts (a mounted volume, or gs:// in a cloud configuration).
            serving_dir: Pushed models, <serving_dir>/<model>/<version>, read by TF Serving.
            metadata: ML Metadata store: grpc://HOST:PORT or sqlite:///PATH.
        """
        compiled = compile_component(
            data_root=data_root,
            span=span,
            window_spans=window_spans,
            train_steps=train_steps,
            min_auc=min_auc,
            min_accuracy=min_accuracy,
            max_auc_drop=max_auc_drop,
            pipeline_root=pipeline_root,
            serving_dir=serving_dir,
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("Compile TFX IR")
        configure(compiled, SMALL)
        tasks: dict[str, dsl.PipelineTask] = {}
        for node_id in groups:
            task = node_components[node_id](
                pipeline_root=pipeline_root, metadata=metadata, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER
            )
            task.set_display_name(title(node_id))
            for up in upstream[node_id]:
                task.after(tasks[up])
            if not upstream[node_id]:  # a first node of the TFX DAG: after the IR is written
                task.after(compiled)
            configure(task, RESOURCES.get(node_id, SMALL), models=node_id == Node.PUSHER)
            tasks[node_id] = task

    if config.alertmanager_url or config.alert_webhook_url:
        pipeline_body = kfp_pipeline.pipeline_func
        alert_component = _alert_component(target.image, config)

        @functools.wraps(pipeline_body)
        def with_exit_handler(*args: Any, **kwargs: Any) -> None:
            # KFP 2.17 compiles an exit handler into an Argo exit lifecycle hook on the sub-DAG
            # (backend/src/v2/compiler/argocompiler/dag.go:60-106): it runs however the DAG ends.
            metadata = inspect.signature(pipeline_body).bind(*args, **kwargs).arguments["metadata"]
            exit_task = alert_component(metadata=metadata, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
            exit_task.set_display_name("Alert on the outcome")
            configure(exit_task, SMALL)
            with dsl.ExitHandler(exit_task, name="Continuous training run"):
                pipeline_body(*args, **kwargs)

        return dsl.pipeline(name=config.pipeline_name, description=kfp_pipeline.description)(with_exit_handler)

    return kfp_pipeline


def compile_kfp(config: PipelineConfig, target: KfpTarget, out: str | Path) -> str:
    """Writes the KFP pipeline spec (YAML, schema 2.1); returns its content hash (12 hex)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(config, target), package_path=str(out))
    return hashlib.sha256(out.read_bytes()).hexdigest()[:12]
