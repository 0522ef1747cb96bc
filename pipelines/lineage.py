"""Every question asked of ML Metadata: spans ingested, runs and their outcome, models, a node's
outputs; and the one record written outside a run: a person accepting a span's failed data checks.

Everything here is read from the store TFX writes (SQLite locally, Kubeflow's metadata service on
a cluster); nothing is kept in side files. Runs are TFX pipeline-run contexts; a run's trigger is
carried in its run id (`<ISO time>~<trigger>`, set by `openct local run` and `openct ct trigger`), so that the store
alone answers "why did this run start".
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator

from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration import metadata

from components.artifacts import has_prop, int_prop, span_of, str_prop
from pipelines.names import Node, Outcome
from pipelines.pipeline.evaluation import read_evaluation

Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event
TRIGGER_SEPARATOR = "~"


def run_id_for(trigger: str, now: dt.datetime | None = None) -> str:
    return f"{(now or dt.datetime.now()).isoformat()}{TRIGGER_SEPARATOR}{trigger}"


def connection(uri: str):
    """`grpc://HOST:PORT`, `sqlite:///PATH` or a SQLite path -> an MLMD connection config."""
    if uri.startswith("grpc://"):
        host, _, port = uri.removeprefix("grpc://").rpartition(":")
        return metadata_store_pb2.MetadataStoreClientConfig(host=host, port=int(port))
    return metadata.sqlite_metadata_connection_config(uri.removeprefix("sqlite://"))


@contextlib.contextmanager
def open_store(uri: str) -> Iterator:
    with metadata.Metadata(connection(uri)) as handle:
        yield handle.store


def node_outputs(store, execution_id: int) -> dict[str, list[metadata_store_pb2.Artifact]]:
    """What one execution output, by output key. Resolvers publish what they selected as
    INTERNAL_OUTPUT events, so those count too."""
    kinds = (Event.OUTPUT, Event.DECLARED_OUTPUT, Event.INTERNAL_OUTPUT)
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in kinds]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    out: dict[str, list[metadata_store_pb2.Artifact]] = {}
    for e in events:
        key = e.path.steps[0].key if e.path.steps else "output"
        out.setdefault(key, []).append(artifacts[e.artifact_id])
    return out


def data_check_results(store) -> dict[int, dict]:
    """span -> the newest DataChecks results of that span (checks.json: profile, every check)."""
    from components.data_checks import DataCheckResults, read_results

    newest = {
        span_of(a): a for a in sorted(store.get_artifacts_by_type(DataCheckResults.TYPE_NAME), key=lambda a: a.id)
    }
    return {span: read_results(a.uri) for span, a in newest.items()}


@dataclasses.dataclass
class Acceptance:
    """`openct data accept`: a person decided that a span's failed data checks are a real change."""

    time: dt.datetime
    span: int
    checks: list[tuple[str, str]]  # (class, feature)
    by: str
    reason: str

    @property
    def checks_text(self) -> str:
        return ", ".join(f"{cls.upper()} on '{feature}'" for cls, feature in self.checks)


ACCEPT_EXECUTION = "openct.DataAccept"


def record_acceptance(store, pipeline_name: str, span: int, by: str, reason: str) -> Acceptance:
    """Records that the blocking checks of `span`'s newest data check results are accepted, as a
    SpanAcceptance artifact in the pipeline's context (where the data checks' history resolver
    finds it: a channel by type queries the pipeline context, as the compiled IR shows), produced
    by an `openct.DataAccept` execution. Raises ValueError when the span has no such check."""
    from components.data_checks import BLOCKING, FINGERPRINT, DataCheckResults, SpanAcceptance

    newest = max(
        (a for a in store.get_artifacts_by_type(DataCheckResults.TYPE_NAME) if span_of(a) == span),
        key=lambda a: a.id,
        default=None,
    )
    if newest is None:
        raise ValueError(f"span {span}: no data check results in ML Metadata (has the span been judged?)")
    if not has_prop(newest, BLOCKING):  # nor the span file's fingerprint that an acceptance is bound to
        raise ValueError(f"span {span} was judged by an older openct: run the pipeline again, then accept it")
    blocking = [tuple(k) for k in json.loads(str_prop(newest, BLOCKING))]
    if not blocking:
        raise ValueError(f"span {span}: no failed data check to accept in {newest.uri}")
    now = dt.datetime.now(dt.UTC)
    values = {
        "span": span,
        FINGERPRINT: str_prop(newest, FINGERPRINT),
        "checks": json.dumps(blocking),
        "by": by,
        "reason": reason,
        "date": f"{now:%Y-%m-%d %H:%M} UTC",
        "results_id": newest.id,
    }
    _record(store, pipeline_name, SpanAcceptance.TYPE_NAME, ACCEPT_EXECUTION, "accepted", values)
    return Acceptance(now, span, blocking, by, reason)


def _record(
    store, pipeline_name: str, artifact_type: str, execution_type: str, key: str, values: dict[str, int | str]
) -> None:
    """A person's decision as an artifact (custom properties `values`) in the pipeline's context,
    output `key` of a COMPLETE execution of `execution_type`."""
    context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if context is None:
        raise ValueError(f"no pipeline {pipeline_name!r} in ML Metadata")
    artifact = metadata_store_pb2.Artifact(
        type_id=store.put_artifact_type(metadata_store_pb2.ArtifactType(name=artifact_type)),
        uri="",
        state=metadata_store_pb2.Artifact.LIVE,
    )
    for name, value in values.items():
        if isinstance(value, int):
            artifact.custom_properties[name].int_value = value
        else:
            artifact.custom_properties[name].string_value = value
    execution = Execution(
        type_id=store.put_execution_type(metadata_store_pb2.ExecutionType(name=execution_type)),
        last_known_state=Execution.COMPLETE,
    )
    event = Event(type=Event.OUTPUT)
    event.path.steps.add().key = key
    store.put_execution(execution, [(artifact, event)], [context])


@dataclasses.dataclass
class ServingChange:
    """`openct serving pin|unpin|rollback`: what serving was moved to, by whom and why."""

    time: dt.datetime
    action: str  # pin, rollback, unpin
    version: int | None  # the pinned version; None after unpin
    canary: int | None
    by: str
    reason: str

    @property
    def text(self) -> str:
        where = f"serving v{self.version}" if self.version is not None else "serving the newest push"
        canary = f", canary v{self.canary}" if self.canary is not None else ""
        return f"{self.action}: {where}{canary}, by {self.by}: {self.reason}"


SERVING_CHANGE = "openct.ServingChange"


def record_serving_change(store, pipeline_name: str, change: ServingChange) -> None:
    values: dict[str, int | str] = {"action": change.action, "by": change.by, "reason": change.reason}
    values |= {"date": f"{change.time:%Y-%m-%d %H:%M} UTC"}
    if change.version is not None:
        values["version"] = change.version
    if change.canary is not None:
        values["canary"] = change.canary
    _record(store, pipeline_name, SERVING_CHANGE, SERVING_CHANGE, "serving", values)


def serving_changes(store) -> list[ServingChange]:
    """Every recorded serving change, oldest first."""
    return [
        ServingChange(
            _time(a.create_time_since_epoch),
            str_prop(a, "action"),
            int_prop(a, "version") if has_prop(a, "version") else None,
            int_prop(a, "canary") if has_prop(a, "canary") else None,
            str_prop(a, "by"),
            str_prop(a, "reason"),
        )
        for a in sorted(store.get_artifacts_by_type(SERVING_CHANGE), key=lambda a: a.id)
    ]


def acceptances(store) -> list[Acceptance]:
    """Every recorded acceptance, oldest first."""
    from components.data_checks import SpanAcceptance

    return [
        Acceptance(
            _time(a.create_time_since_epoch),
            span_of(a),
            [tuple(k) for k in json.loads(str_prop(a, "checks") or "[]")],
            str_prop(a, "by"),
            str_prop(a, "reason"),
        )
        for a in sorted(store.get_artifacts_by_type(SpanAcceptance.TYPE_NAME), key=lambda a: a.id)
    ]


def span_statistics(store, spans: list[int]) -> dict[int, tuple[str, list[str]]]:
    """span -> (uri, split names) of the newest StatisticsGen output recorded for it."""
    found = [a for a in store.get_artifacts_by_type("ExampleStatistics") if a.state == metadata_store_pb2.Artifact.LIVE]
    # TFX's StatisticsGen records no span on its output (the back-fill's batch one does): the span
    # is its input Examples'. Looked up in three calls, whatever the store holds (the trigger asks
    # a cluster's store over gRPC).
    producers = {
        e.artifact_id: e.execution_id
        for e in store.get_events_by_artifact_ids([a.id for a in found])
        if e.type == Event.OUTPUT
    }
    inputs = [
        e
        for e in store.get_events_by_execution_ids(sorted(set(producers.values())))
        if e.type == Event.INPUT and e.path.steps and e.path.steps[0].key == "examples"
    ]
    examples = {a.id: span_of(a) for a in store.get_artifacts_by_id([e.artifact_id for e in inputs])}
    input_span: dict[int, int] = {}  # execution id -> its input Examples' span
    for e in inputs:
        input_span[e.execution_id] = max(input_span.get(e.execution_id, 0), examples.get(e.artifact_id, 0))
    newest: dict[int, metadata_store_pb2.Artifact] = {}
    for a in sorted(found, key=lambda a: a.id):
        span = span_of(a) or input_span.get(producers.get(a.id, -1), 0)
        if span in spans:
            newest[span] = a
    return {span: (a.uri, _split_names(a)) for span, a in newest.items()}


def _split_names(artifact: metadata_store_pb2.Artifact) -> list[str]:
    return json.loads(str_prop(artifact, "split_names") or "[]")


def validated_spans(store) -> set[int]:
    """Spans with a ValidatedSpan record: they passed the gate."""
    from components.data_checks import ValidatedSpan

    return {span_of(a) for a in store.get_artifacts_by_type(ValidatedSpan.TYPE_NAME)}


def ingested_spans(store) -> set[int]:
    """Spans that CsvExampleGen has ingested (whether they then passed the gate or not)."""
    return {span_of(a) for a in store.get_artifacts_by_type("Examples")}


def judged_spans(store, pipeline_name: str) -> set[int]:
    """Spans whose Examples the ValidationGate has judged, passed or refused. The gate's inputs
    are recorded when its execution starts, so a refused span counts; a span ingested but never
    judged (a back-fill that stopped at an earlier span) does not."""
    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{Node.GATE}")
    if context is None:
        return set()
    executions = [e.id for e in store.get_executions_by_context(context.id)]
    ids = {
        e.artifact_id
        for e in store.get_events_by_execution_ids(executions)
        if e.type == Event.INPUT and e.path.steps and e.path.steps[0].key == "examples"
    }
    return {span_of(a) for a in store.get_artifacts_by_id(list(ids))}


@dataclasses.dataclass
class RunRecord:
    run_id: str
    trigger: str
    started: dt.datetime
    seconds: float
    outcome: str  # an Outcome, with a detail: "pushed v3", "failed at Trainer", "running (Transform)"
    spans: list[int]  # spans ingested by this run


@dataclasses.dataclass
class ModelRecord:
    model_id: int
    created: dt.datetime
    spans: list[int]
    metrics: dict[str, float]
    blessed: bool | None
    pushed_version: int | None
    pushed_at: dt.datetime | None
    serving: bool = False


def _time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000)


def _node_of(store, execution_id: int, pipeline_name: str) -> str:
    for context in store.get_contexts_by_execution(execution_id):
        if context.name.startswith(pipeline_name + "."):
            return context.name[len(pipeline_name) + 1 :]
    return "?"


def _events(store, execution_id: int, kinds: tuple[int, ...]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in store.get_events_by_execution_ids([execution_id]):
        if e.type in kinds and e.path.steps:
            out.setdefault(e.path.steps[0].key, []).append(e.artifact_id)
    return out


def runs(store, pipeline_name: str) -> list[RunRecord]:
    """Every pipeline run, oldest first, with its trigger, duration, outcome and ingested spans."""
    records = []
    for context in store.get_contexts_by_type("pipeline_run"):
        executions = store.get_executions_by_context(context.id)
        if not executions:
            continue
        # A node retried (an Argo retry of a killed pod) has an execution per attempt: the last decides.
        by_node = {_node_of(store, e.id, pipeline_name): e for e in sorted(executions, key=lambda e: e.id)}
        trigger = context.name.split(TRIGGER_SEPARATOR, 1)[1] if TRIGGER_SEPARATOR in context.name else "manual"
        start = min(e.create_time_since_epoch for e in executions)
        end = max(e.last_update_time_since_epoch for e in executions)
        spans = []
        if Node.EXAMPLE_GEN in by_node:
            outputs = _events(store, by_node[Node.EXAMPLE_GEN].id, (Event.OUTPUT,))
            spans = sorted(span_of(a) for a in store.get_artifacts_by_id(outputs.get("examples", [])))
        outcome = _outcome(store, by_node)
        warned = _warned_spans(store, by_node[Node.DATA_CHECKS].id) if Node.DATA_CHECKS in by_node else []
        if warned:
            outcome += f"; data check warnings on span {', '.join(map(str, warned))}"
        records.append(RunRecord(context.name, trigger, _time(start), (end - start) / 1000, outcome, spans))
    return sorted(records, key=lambda r: r.started)


def gate_findings(store, run_id: str, pipeline_name: str) -> list[str]:
    """The anomaly lines of a run's failed ValidationGate, read from its inputs (ExampleValidator's
    anomalies, the data checks' results) as the gate read them; [] when its gate did not fail."""
    from components.data_checks import read_results
    from components.gate import check_anomalies, list_anomalies, read_anomalies

    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:
        return []
    for execution in store.get_executions_by_context(context.id):
        if _node_of(store, execution.id, pipeline_name) != Node.GATE or execution.last_known_state != Execution.FAILED:
            continue
        inputs = _events(store, execution.id, (Event.INPUT,))
        found = []
        for anomalies in store.get_artifacts_by_id(inputs.get("anomalies", [])):
            found += list_anomalies(read_anomalies(anomalies.uri, _split_names(anomalies)))
        for checks in store.get_artifacts_by_id(inputs.get("checks", [])):
            found += check_anomalies(read_results(checks.uri))
        return [str(a) for a in found]
    return []


def _warned_spans(store, execution_id: int) -> list[int]:
    """Spans whose DataChecks results (of this execution) carry warnings: failed checks that do
    not block (a short history, or accepted by a person)."""
    ids = _events(store, execution_id, (Event.OUTPUT,)).get("results", [])
    return sorted({span_of(a) for a in store.get_artifacts_by_id(ids) if int_prop(a, "warnings", 0)})


def _outcome(store, by_node: dict[str, metadata_store_pb2.Execution]) -> str:
    failed = [n for n, e in by_node.items() if e.last_known_state == Execution.FAILED]
    if Node.GATE in failed:
        return Outcome.BLOCKED
    if failed:
        return f"{Outcome.FAILED} at {failed[0]}"
    pusher = by_node.get(Node.PUSHER)
    if pusher is None:
        running = [n for n, e in by_node.items() if e.last_known_state in (Execution.NEW, Execution.RUNNING)]
        return f"{Outcome.RUNNING} ({running[0]})" if running else Outcome.INGESTED
    if pusher.last_known_state == Execution.CACHED:
        return Outcome.UNCHANGED
    outputs = _events(store, pusher.id, (Event.OUTPUT,))
    for pushed in store.get_artifacts_by_id(outputs.get("pushed_model", [])):
        if int_prop(pushed, "pushed", 0):
            return f"{Outcome.PUSHED} v{str_prop(pushed, 'pushed_version')}"
    return Outcome.NOT_BLESSED


def local_uri(uri: str, artifacts_at: tuple[str, str] | None) -> str:
    """Where an artifact recorded as `uri` is read here: `artifacts_at` = (the pipeline root's
    path where the run wrote it, e.g. a pod's /mnt/openct; the same directory here)."""
    if artifacts_at and (uri == artifacts_at[0] or uri.startswith(artifacts_at[0].rstrip("/") + "/")):
        return artifacts_at[1].rstrip("/") + uri[len(artifacts_at[0].rstrip("/")) :]
    return uri


def models(
    store, served_version: int | None = None, with_metrics: bool = True, artifacts_at: tuple[str, str] | None = None
) -> list[ModelRecord]:
    """Every trained model, oldest first: spans, evaluation metrics (TFMA results, read only
    `with_metrics`, at local_uri), blessing and push; `serving` marks the model pushed as `served_version`."""
    inputs_kind = (Event.INPUT,)
    outputs_kind = (Event.OUTPUT,)
    evaluations: dict[int, tuple[str, int | None]] = {}  # model id -> (evaluation uri, blessed)
    pushes: dict[int, metadata_store_pb2.Artifact] = {}  # model id -> pushed PushedModel
    for execution in store.get_executions_by_type("tfx.components.evaluator.component.Evaluator"):
        inputs, outputs = _events(store, execution.id, inputs_kind), _events(store, execution.id, outputs_kind)
        for model_id in inputs.get("model", []):
            blessing = store.get_artifacts_by_id(outputs.get("blessing", []))
            evaluation = store.get_artifacts_by_id(outputs.get("evaluation", []))
            if evaluation:
                evaluations[model_id] = (evaluation[0].uri, int_prop(blessing[0], "blessed") if blessing else None)
    for execution in store.get_executions_by_type("tfx.components.pusher.component.Pusher"):
        inputs, outputs = _events(store, execution.id, inputs_kind), _events(store, execution.id, outputs_kind)
        for pushed in store.get_artifacts_by_id(outputs.get("pushed_model", [])):
            if int_prop(pushed, "pushed", 0):
                for model_id in inputs.get("model", []):
                    pushes[model_id] = pushed
    records = []
    for model in store.get_artifacts_by_type("Model"):
        producer = [e for e in store.get_events_by_artifact_ids([model.id]) if e.type == Event.OUTPUT]
        spans: list[int] = []
        if producer:
            trainer_inputs = _events(store, producer[0].execution_id, inputs_kind)
            spans = sorted(span_of(a) for a in store.get_artifacts_by_id(trainer_inputs.get("examples", [])))
        metrics: dict[str, float] = {}
        blessed = None
        if model.id in evaluations:
            uri, blessed_flag = evaluations[model.id]
            metrics = read_evaluation(local_uri(uri, artifacts_at))[0].get("candidate", {}) if with_metrics else {}
            blessed = None if blessed_flag is None else bool(blessed_flag)
        pushed = pushes.get(model.id)
        version = int(str_prop(pushed, "pushed_version") or 0) if pushed else None
        records.append(
            ModelRecord(
                model.id,
                _time(model.create_time_since_epoch),
                spans,
                metrics,
                blessed,
                version,
                _time(pushed.create_time_since_epoch) if pushed else None,
                serving=version is not None and version == served_version,
            )
        )
    return sorted(records, key=lambda r: r.model_id)
