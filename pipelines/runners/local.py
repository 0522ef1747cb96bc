"""The local DAG runner: every node in topological order in this process, with SQLite ML Metadata.

This is what `tfx.orchestration.LocalDagRunner.run_with_ir` does (compile to IR, substitute the
run id, launch each node with TFX's portable launcher), plus what LocalDagRunner does not expose:
per-node timing, cached-or-not from ML Metadata and each node's outputs, for the progress lines,
the HTML views and the run summary. Nodes are launched by pipelines.runners.launcher, the same
code every Kubeflow task runs, so both runners execute a node identically.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from absl import logging
from tfx.orchestration import pipeline as tfx_pipeline

from components.artifacts import int_prop, span_of, str_prop
from components.gate import find_validation_error
from pipelines import lineage
from pipelines.config import PipelineConfig
from pipelines.data import spans as spans_lib
from pipelines.names import Node, NodeStatus, Outcome
from pipelines.pipeline import dag
from pipelines.pipeline.evaluation import read_evaluation
from pipelines.reports import views
from pipelines.reports.summary import RunSummary, span_ranges
from pipelines.runners.launcher import NodeResult, compile_ir, connection_config, launch, new_run_id, nodes


class NodeFailed(RuntimeError):
    def __init__(self, result: NodeResult, results: list[NodeResult]):
        self.result, self.results = result, results
        super().__init__(f"{result.node_id} failed: {result.error}")


# progress(node id or section header, index, total, result): result None = started; total 0 = header
Progress = Callable[[str, int, int, NodeResult | None], None]


def run_pipeline(
    pipeline: tfx_pipeline.Pipeline,
    progress: Progress | None = None,
    run_id: str | None = None,
    views_dir: Path | None = None,
) -> list[NodeResult]:
    """Runs every node in topological order; stops at the first failure (NodeFailed).

    With `views_dir`, writes each node's HTML page there (pipelines.reports.views), failed nodes included.
    """
    ir = compile_ir(pipeline, run_id or new_run_id())
    mlmd_config = connection_config(ir)
    order = nodes(ir)
    results: list[NodeResult] = []
    for i, node in enumerate(order, start=1):
        node_id = node.node_info.id
        if progress:
            progress(node_id, i, len(order), None)
        started = time.monotonic()
        try:
            result = launch(ir, node, mlmd_config)
        except Exception as exc:  # noqa: BLE001 - reported with the node's name, then re-raised
            result = NodeResult(node_id, NodeStatus.FAILED, time.monotonic() - started, error=exc)
            results.append(result)
            _write_view(views_dir, result)
            if progress:
                progress(node_id, i, len(order), result)
            raise NodeFailed(result, results) from exc
        results.append(result)
        _write_view(views_dir, result)
        if progress:
            progress(node_id, i, len(order), result)
    return results


def _write_view(views_dir: Path | None, result: NodeResult) -> None:
    """The node's HTML page, best effort: a page that cannot be written (the disk is full) must
    not hide why the run stopped; measured: ENOSPC during Trainer surfaced as a bare
    `[Errno 28]` from the failed node's page instead of "Trainer failed" and the summary."""
    if views_dir is None:
        return
    try:
        views.write_view(
            views_dir / f"{result.node_id}.html",
            result.node_id,
            result.status,
            result.seconds,
            result.outputs,
            result.error,
        )
    except OSError as exc:
        logging.warning("view of %s not written: %s", result.node_id, exc)


# --- a whole local run: back-fill the window's older spans, then the full pipeline -------------


def backfill_plan(present: list[int], window_spans: int, judged: set[int]) -> list[int]:
    """The older spans of the window (all but the newest) that the gate has not judged yet: on a
    fresh store, the first window's; after a back-fill stopped at a refused span, the spans after
    it (ingested again: their first Examples were never judged)."""
    return [s for s in present[-window_spans:-1] if s not in judged]


def judged_spans(config: PipelineConfig) -> set[int]:
    """Spans the gate has judged for good: a refused span that a person has since accepted
    (`openct data accept`) and that has not passed yet is judged again."""
    if not os.path.exists(config.metadata):
        return set()
    with lineage.open_store(config.metadata) as store:
        judged = lineage.judged_spans(store, config.pipeline_name)
        accepted = {a.span for a in lineage.acceptances(store)}
        return judged - (accepted - lineage.validated_spans(store))


def lock_path(metadata: str) -> Path | None:
    """<store>.lock beside a local SQLite store; None for a store that is not a local file."""
    return None if "://" in metadata else Path(metadata + ".lock")


@contextlib.contextmanager
def store_lock(metadata: str, wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """One local run at a time on one ML Metadata store: an exclusive flock(2) on `<store>.lock`.

    Two runs at once on one store both trained and both pushed (versions 2 and 3 from the same
    span, measured on main at cf86194): each resolved its inputs before the other recorded its
    outputs. The second now waits, then finds the span done (every node a cache hit). The kernel
    releases a flock when its holder exits, kill -9 included, so no stale lock outlives a run.
    `wait(message)` is told once, naming the holder, when the lock is taken. A store that is not a
    local file (grpc://) is not locked here.
    """
    path = lock_path(metadata)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            if wait:
                wait(f"another run holds {path} ({f.read().strip() or 'unknown'}): waiting for it to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
        os.ftruncate(f.fileno(), 0)
        f.write(f"pid {os.getpid()}, since {dt.datetime.now():%Y-%m-%d %H:%M:%S}")
        f.flush()
        yield


def run_in_flight(metadata: str) -> str | None:
    """Who holds the store's lock (store_lock) now, or None: the trigger starts nothing then."""
    path = lock_path(metadata)
    if path is None or not path.exists():
        return None
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            return f.read().strip() or "unknown"
        fcntl.flock(f, fcntl.LOCK_UN)
    return None


def run_local(config: PipelineConfig, progress: Progress | None = None, trigger: str = "manual") -> RunSummary:
    """Runs the pipeline on the newest span, back-filling first the window's older spans.

    ExampleGen reads one span per execution; on a fresh store the older spans of the first
    window are ingested together (dag.create_backfill_pipeline: one execution each of ExampleGen
    and StatisticsGen, one artifact per span), then judged one by one, oldest first, by the
    pipeline's own validation nodes (dag.create_validation_pipeline). A refused span stops the
    run, as in the pipeline. `trigger` (why the run started) is recorded in the run ids, hence in
    ML Metadata. Returns a RunSummary; never raises for a pipeline failure (the summary says what
    failed). A second run on the same store waits for the first (store_lock).
    """
    with store_lock(config.metadata, (lambda message: progress(f"-- {message}", 0, 0, None)) if progress else None):
        return _run_local(config, progress, trigger)


def _run_local(config: PipelineConfig, progress: Progress | None, trigger: str) -> RunSummary:
    summary = RunSummary()
    started = time.monotonic()
    present = spans_lib.existing_spans(config.data_root)
    if not present:
        summary.reason = f"no spans under {config.data_root} (expected span-<N>/{spans_lib.SPAN_FILE})"
        return summary
    newest = present[-1]
    summary.newest_span = newest
    backfill = backfill_plan(present, config.window_spans, judged_spans(config))
    results: list[NodeResult] = []
    try:
        for span in [*backfill, newest]:
            spans_lib.check_span_file(spans_lib.span_path(config.data_root, span))
    except ValueError as bad:
        summary.reason = f"bad input: {bad}"
        return summary
    views_root = Path(config.pipeline_root) / "views" / dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    summary.views_dir = str(views_root)

    def section(header: str, pipeline: tfx_pipeline.Pipeline, name: str = "") -> None:
        """One pipeline run, after its header line; `name` marks a back-fill run (its run id's
        suffix and its views' sub-directory)."""
        if progress:
            progress(header, 0, 0, None)
        run_id = lineage.run_id_for(f"{trigger}:{name}" if name else trigger)
        if not name:
            summary.run_id = run_id
        results.extend(run_pipeline(pipeline, progress, run_id=run_id, views_dir=views_root / name))

    try:
        if backfill:
            section(
                f"-- ingesting spans {span_ranges(backfill)} (older spans of the first window)",
                dag.create_backfill_pipeline(config, backfill),
                f"backfill-spans-{backfill[0]}-{backfill[-1]}",
            )
            summary.ingested += backfill
        for span in backfill:
            section(f"-- validating span {span}", dag.create_validation_pipeline(config, span), f"backfill-span-{span}")
        section(f"-- pipeline on span {newest}", dag.create_pipeline(config, span=newest))
    except NodeFailed as failed:
        results += failed.results  # the failed pipeline's nodes, up to the failure
        gate_error = find_validation_error(failed.result.error)
        if gate_error is not None:
            summary.status = Outcome.BLOCKED
            summary.anomalies = [str(a) for a in gate_error.anomalies]
            summary.reason = f"span {gate_error.span} failed data validation"
        else:
            summary.status = Outcome.FAILED
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


def data_check_warnings(uri: str) -> list[str]:
    """The DataChecks results' warnings (failed checks that do not block), one line each."""
    from components.checks import Check
    from components.data_checks import read_results

    results = read_results(uri)
    return [f"span {results['span']}: {c.line()}" for c in map(Check.from_dict, results.get("checks", [])) if c.warns]


def fill_from_results(summary: RunSummary, results: list[NodeResult]) -> None:
    """Spans, evaluation, blessing and push, from the main run's node outputs."""
    for r in results:
        summary.node_seconds[r.node_id] = round(summary.node_seconds.get(r.node_id, 0.0) + r.seconds, 2)
    summary.ran_nodes = sum(r.status == NodeStatus.RAN for r in results)
    summary.cached_nodes = sum(r.status == NodeStatus.CACHED for r in results)
    for r in results:
        if r.node_id == Node.DATA_CHECKS and r.outputs.get("results"):
            summary.warnings += [
                w for w in data_check_warnings(r.outputs["results"][0].uri) if w not in summary.warnings
            ]
    by_node = {r.node_id: r for r in results}  # later results (the main run) win
    example_gen = by_node.get(Node.EXAMPLE_GEN)
    if example_gen and example_gen.status == NodeStatus.RAN:
        summary.ingested += [
            s for s in map(span_of, example_gen.outputs.get("examples", [])) if s not in summary.ingested
        ]
    window = by_node.get(Node.SPAN_WINDOW)
    if window:
        summary.spans = sorted(span_of(a) for a in window.outputs.get("examples", []))
    eval_window = by_node.get(Node.EVAL_WINDOW)
    if eval_window:
        summary.eval_spans = sorted(span_of(a) for a in eval_window.outputs.get("examples", []))
    baseline = by_node.get(Node.BASELINE)
    summary.has_baseline = bool(baseline and baseline.outputs.get("model"))
    evaluator = by_node.get(Node.EVALUATOR)
    if evaluator and evaluator.outputs.get("evaluation"):
        summary.evaluation_uri = evaluator.outputs["evaluation"][0].uri
        summary.metrics, summary.validation_failures = read_evaluation(summary.evaluation_uri)
        blessing = evaluator.outputs.get("blessing", [])
        summary.blessed = bool(blessing and int_prop(blessing[0], "blessed", 0))
    pusher = by_node.get(Node.PUSHER)
    if pusher and pusher.outputs.get("pushed_model"):
        pushed = pusher.outputs["pushed_model"][0]
        if int_prop(pushed, "pushed", 0):
            summary.pushed_version = int(str_prop(pushed, "pushed_version") or 0)
            summary.pushed_path = str_prop(pushed, "pushed_destination")
        if pusher.status == NodeStatus.CACHED:
            summary.status = Outcome.UNCHANGED
            summary.reason = "no new data or settings since the last run: every step was cached"
            if summary.pushed_version is not None:
                summary.reason += f"; version {summary.pushed_version} keeps serving"
                summary.pushed_version = None
        elif summary.pushed_version is not None:
            summary.status = Outcome.PUSHED
        else:
            summary.status = Outcome.NOT_BLESSED
            summary.reason = "the model was not blessed by the Evaluator; the previous version keeps serving"
