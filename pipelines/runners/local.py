"""Local orchestration: TFX's portable launcher, node by node, with SQLite ML Metadata.

This does what `tfx.orchestration.LocalDagRunner.run_with_ir` does (compile to IR, substitute the
run id, launch every node in topological order with `tfx.orchestration.portable.launcher`), and
adds what LocalDagRunner does not expose: per-node timing, cached-or-not from ML Metadata and
the node's outputs, for the progress lines and the run summary. `run_node` is the single-node
step that the Kubeflow adapter reuses, so both paths execute nodes the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from pipelines import pipeline as pipeline_lib
from pipelines import lineage
from pipelines import spans as spans_lib
from pipelines import views
from pipelines.config import PipelineConfig
from pipelines.summary import RunSummary, data_validation_error, int_prop, read_evaluation, str_prop

Execution = metadata_store_pb2.Execution


@dataclasses.dataclass
class NodeResult:
    node_id: str
    status: str  # "ran", "cached", "resolved", "skipped", "failed"
    seconds: float
    execution_id: int | None = None
    outputs: dict[str, list[metadata_store_pb2.Artifact]] = dataclasses.field(default_factory=dict)
    error: BaseException | None = None


class NodeFailed(RuntimeError):
    def __init__(self, result: NodeResult, results: list[NodeResult]):
        self.result, self.results = result, results
        super().__init__(f"{result.node_id} failed: {result.error}")


Progress = Callable[[str, int, int, NodeResult | None], None]


def compile_pipeline(pipeline: tfx_pipeline.Pipeline, run_id: str | None = None) -> pipeline_pb2.Pipeline:
    """TFX IR with the run id substituted (as LocalDagRunner does)."""
    ir = compiler.Compiler().compile(pipeline)
    run_id = run_id or dt.datetime.now().isoformat()
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    return ir


def connection_config(ir: pipeline_pb2.Pipeline):
    deployment = runner_utils.extract_local_deployment_config(ir)
    mlmd = deployment.metadata_connection_config
    return getattr(mlmd, mlmd.WhichOneof("connection_config"))


def run_node(ir: pipeline_pb2.Pipeline, node: pipeline_pb2.PipelineNode, mlmd_config) -> NodeResult:
    """Launches one node with TFX's launcher; raises NodeFailed-compatible errors."""
    deployment = runner_utils.extract_local_deployment_config(ir)
    node_id = node.node_info.id
    started = time.monotonic()
    with metadata.Metadata(mlmd_config) as mlmd_handle:
        info = launcher.Launcher(
            pipeline_node=node,
            mlmd_connection=mlmd_handle,
            pipeline_info=ir.pipeline_info,
            pipeline_runtime_spec=ir.runtime_spec,
            executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
            custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
        ).launch()
        seconds = time.monotonic() - started
        if info is None or info.execution_id is None:
            return NodeResult(node_id, "skipped", seconds)
        execution = mlmd_handle.store.get_executions_by_id([info.execution_id])[0]
        outputs = _outputs(mlmd_handle.store, info.execution_id)
    if execution.last_known_state == Execution.CACHED:
        status = "cached"
    elif node.node_info.type.name.endswith(".Resolver"):  # system node: selects, runs nothing
        status = "resolved"
    else:
        status = "ran"
    return NodeResult(node_id, status, seconds, info.execution_id, outputs)


def _outputs(store, execution_id: int) -> dict[str, list[metadata_store_pb2.Artifact]]:
    kinds = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT,
             metadata_store_pb2.Event.INTERNAL_OUTPUT)  # resolvers publish what they selected so
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in kinds]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    out: dict[str, list[metadata_store_pb2.Artifact]] = {}
    for e in events:
        key = e.path.steps[0].key if e.path.steps else "output"
        out.setdefault(key, []).append(artifacts[e.artifact_id])
    return out


@contextlib.contextmanager
def argv_for_tfx():
    """TFX's Beam executors parse `sys.argv + beam_args` as absl flags (base_beam_executor.py,
    TODO b/174174381), so the host program's own arguments (pytest's `-v`, our `--verbose`) would
    be read as absl's --verbosity. Nodes see only the program name."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def run_pipeline(pipeline: tfx_pipeline.Pipeline, progress: Progress | None = None,
                 run_id: str | None = None, views_dir: Path | None = None) -> list[NodeResult]:
    """Runs every node in topological order; stops at the first failure (NodeFailed).

    With `views_dir`, writes each node's HTML page there (pipelines.views), failed nodes included.
    """
    ir = compile_pipeline(pipeline, run_id)
    mlmd_config = connection_config(ir)
    nodes = [n.pipeline_node for n in ir.nodes]
    results: list[NodeResult] = []
    for i, node in enumerate(nodes, start=1):
        node_id = node.node_info.id
        if progress:
            progress(node_id, i, len(nodes), None)
        started = time.monotonic()
        try:
            with argv_for_tfx():
                result = run_node(ir, node, mlmd_config)
        except Exception as exc:  # noqa: BLE001 - reported with the node's name, then re-raised
            result = NodeResult(node_id, "failed", time.monotonic() - started, error=exc)
            results.append(result)
            _write_view(views_dir, result)
            if progress:
                progress(node_id, i, len(nodes), result)
            raise NodeFailed(result, results) from exc
        results.append(result)
        _write_view(views_dir, result)
        if progress:
            progress(node_id, i, len(nodes), result)
    return results


def _write_view(views_dir: Path | None, result: NodeResult) -> None:
    if views_dir is not None:
        views.write_view(views_dir / f"{result.node_id}.html", result.node_id, result.status,
                         result.seconds, result.outputs, result.error)


# --- a whole local run: back-fill the window's older spans, then the full pipeline -------------

def ingested_spans(metadata_path: str) -> set[int]:
    """Spans that CsvExampleGen has ingested before (passed the gate or not), from ML Metadata."""
    if not os.path.exists(metadata_path):
        return set()
    with lineage.open_store(metadata_path) as store:
        return lineage.ingested_spans(store)


def run_local(config: PipelineConfig, progress: Progress | None = None, trigger: str = "manual") -> RunSummary:
    """Runs the pipeline on the newest span, ingesting first the window's spans never seen.

    ExampleGen reads one span per execution; on a fresh store the older spans of the first
    window are ingested (and validated) by the pipeline's ingestion nodes, one span each.
    `trigger` (why the run started) is recorded in the run ids, hence in ML Metadata.
    Returns a RunSummary; never raises for a pipeline failure (the summary says what failed).
    """
    summary = RunSummary()
    started = time.monotonic()
    present = spans_lib.existing_spans(config.data_root)
    if not present:
        summary.reason = f"no spans under {config.data_root} (expected span-<N>/{spans_lib.SPAN_FILE})"
        return summary
    newest = present[-1]
    summary.newest_span = newest
    seen = ingested_spans(config.metadata)
    backfill = [s for s in present[-config.window_spans:-1] if s not in seen]
    results: list[NodeResult] = []
    try:
        for span in [*backfill, newest]:
            spans_lib.check_span_file(Path(config.data_root) / f"span-{span}" / spans_lib.SPAN_FILE)
    except ValueError as bad:
        summary.reason = f"bad input: {bad}"
        return summary
    views_root = Path(config.pipeline_root) / "views" / dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    summary.views_dir = str(views_root)
    try:
        for span in backfill:
            if progress:
                progress(f"-- ingesting span {span} (older span of the first window)", 0, 0, None)
            results += run_pipeline(pipeline_lib.create_pipeline(config, span=span, ingest_only=True),
                                    progress, run_id=lineage.run_id_for(f"{trigger}:ingest-span-{span}"),
                                    views_dir=views_root / f"ingest-span-{span}")
            summary.ingested.append(span)
        if progress:
            progress(f"-- pipeline on span {newest}", 0, 0, None)
        results += run_pipeline(pipeline_lib.create_pipeline(config, span=newest), progress,
                                run_id=lineage.run_id_for(trigger), views_dir=views_root)
    except NodeFailed as failed:
        results += failed.results  # the failed pipeline's nodes, up to the failure
        gate_error = data_validation_error(failed.result.error)
        if gate_error is not None:
            summary.status = "blocked"
            summary.anomalies = [str(a) for a in gate_error.anomalies]
            summary.reason = f"span {gate_error.span} failed data validation"
        else:
            summary.status = "failed"
            summary.reason = f"{failed.result.node_id} failed: {short_error(failed.result.error)}"
    summary.seconds = time.monotonic() - started
    fill_from_results(summary, results)
    return summary


def short_error(exc: BaseException | None, max_lines: int = 6) -> str:
    """The error's type and message, without TensorFlow's repeated stack listings."""
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    if len(lines) > max_lines:
        lines = lines[:1] + ["..."] + lines[-2:]
    return f"{type(exc).__name__}: " + "\n".join(lines)


def fill_from_results(summary: RunSummary, results: list[NodeResult]) -> None:
    """Spans, evaluation, blessing and push, from the main run's node outputs."""
    for r in results:
        summary.node_seconds[r.node_id] = round(summary.node_seconds.get(r.node_id, 0.0) + r.seconds, 2)
    summary.ran_nodes = sum(r.status == "ran" for r in results)
    summary.cached_nodes = sum(r.status == "cached" for r in results)
    by_node = {r.node_id: r for r in results}  # later results (the main run) win
    example_gen = by_node.get("CsvExampleGen")
    if example_gen and example_gen.status == "ran" and summary.newest_span not in summary.ingested:
        summary.ingested += [int_prop(a, "span", 0) for a in example_gen.outputs.get("examples", [])]
    window = by_node.get("span_window")
    if window:
        summary.spans = sorted(int_prop(a, "span", 0) for a in window.outputs.get("examples", []))
    baseline = by_node.get("baseline_model")
    summary.has_baseline = bool(baseline and baseline.outputs.get("model"))
    evaluator = by_node.get("Evaluator")
    if evaluator and evaluator.outputs.get("evaluation"):
        summary.evaluation_uri = evaluator.outputs["evaluation"][0].uri
        summary.metrics, summary.validation_failures = read_evaluation(summary.evaluation_uri)
        blessing = evaluator.outputs.get("blessing", [])
        summary.blessed = bool(blessing and int_prop(blessing[0], "blessed", 0))
    pusher = by_node.get("Pusher")
    if pusher and pusher.outputs.get("pushed_model"):
        pushed = pusher.outputs["pushed_model"][0]
        if int_prop(pushed, "pushed", 0):
            summary.pushed_version = int(str_prop(pushed, "pushed_version") or 0)
            summary.pushed_path = str_prop(pushed, "pushed_destination")
        if pusher.status == "cached":
            summary.status = "unchanged"
            summary.reason = "no new data or settings since the last run: every step was cached"
            if summary.pushed_version is not None:
                summary.reason += f"; version {summary.pushed_version} keeps serving"
                summary.pushed_version = None
        elif summary.pushed_version is not None:
            summary.status = "pushed"
        else:
            summary.status = "not-blessed"
            summary.reason = "the model was not blessed by the Evaluator; the previous version keeps serving"
