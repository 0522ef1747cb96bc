"""`openct compile-ir | step | alert`: the orchestrator tasks a compiled KFP spec runs in its pods.

They stay top-level commands (`python -m pipelines.cli compile-ir|step`) because compiled and
uploaded specs call them by these names (pipelines.runners.kubeflow; pinned by
pipelines/cli/cli_test.py). Their output is the pod's log, so it is not redirected.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

from pipelines.cli import EXIT_BLOCKED, EXIT_FAILED, console
from pipelines.names import NodeStatus


def register(commands: Any) -> None:
    p = commands.add("compile-ir", cmd_compile_ir, "(task) write the pipeline's TFX IR, run id left open")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="IR file (JSON)")
    where.add_argument("--run-id", help="a Kubeflow run's id: the IR goes to <pipeline root>/runs/<run id>/")
    p.add_argument("--span", type=int, default=None, help="span to ingest (default or 0: the newest)")
    p.add_argument("--view", default=None, help="write a page of what this run will do here")
    p = commands.add("step", cmd_step, "(task) run one node of a compiled IR in this process", ())
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--ir", help="pipeline IR written by `openct compile-ir --out`")
    where.add_argument("--pipeline-root", help="the IR of `compile-ir --run-id`: <pipeline root>/runs/<run id>/")
    p.add_argument(
        "--node",
        required=True,
        action="append",
        help="node id, e.g. Trainer; repeated: the nodes in this order in one process (a resolver, then its consumer)",
    )
    p.add_argument("--run-id", required=True, help="the same for every node of one pipeline run")
    p.add_argument(
        "--metadata", default=None, help="ML Metadata: grpc://HOST:PORT or sqlite:///PATH (default: the IR's)"
    )
    p.add_argument("--view", default=None, help="write the node's HTML view here")
    p = commands.add(
        "alert",
        cmd_alert,
        "(task) after a KFP run, whatever its end (its exit handler): alert on a block, a failure, no blessing",
        ("pipeline_name", "alertmanager_url", "alert_webhook_url"),
    )
    p.add_argument("--run-id", required=True, help="the KFP run's id (its TFX run id)")
    p.add_argument("--metadata", required=True, help="ML Metadata: grpc://HOST:PORT or sqlite:///PATH")


def cmd_compile_ir(config: Any, args: argparse.Namespace) -> int:
    from pipelines.data.spans import check_span_file, span_path
    from pipelines.pipeline.dag import create_pipeline
    from pipelines.reports import views
    from pipelines.runners.launcher import compile_ir, nodes, run_ir_path, write_ir

    span = args.span or newest_span(config.data_root)
    if span and "://" not in config.data_root:  # refused here, before ExampleGen, naming the file
        check_span_file(span_path(config.data_root, span))
    out = args.out or run_ir_path(config.pipeline_root, args.run_id)
    ir = compile_ir(create_pipeline(config, span=span))
    write_ir(ir, out, once=args.run_id is not None)
    if args.view:
        views.write_run_view(args.view, config, span, [n.node_info.id for n in nodes(ir)], out)
    print(f"wrote {out} (span {span or 'newest'})")
    return 0


def newest_span(data_root: str) -> int | None:
    """The span a run without one ingests, fixed when the run's IR is compiled: an IR for "the
    newest" and one for that span by number would give CsvExampleGen different exec properties
    (its range config), so a scheduled run (span 0) after a run started by the trigger (span N)
    on the same data re-ingested and retrained instead of being all cached (seen on a real KFP).
    None where spans are not local files (a bucket): TFX's driver then picks the newest."""
    from pipelines.data.spans import existing_spans

    if "://" in data_root:
        return None
    present = existing_spans(data_root)
    return present[-1] if present else None


def cmd_step(config: Any, args: argparse.Namespace) -> int:
    from components.gate import find_validation_error
    from pipelines.reports import views
    from pipelines.runners.launcher import launch_step, mlmd_connection, read_ir, run_ir_path

    ir_path = args.ir or run_ir_path(args.pipeline_root, args.run_id)
    ir = read_ir(ir_path)
    mlmd = mlmd_connection(ir, args.metadata)
    for index, node in enumerate(args.node):
        last = index == len(args.node) - 1
        pages = [p for p in (args.view if last else None, volume_view(ir, args.run_id, node)) if p]
        started = time.monotonic()
        print(f"step {node}: started (run {args.run_id})", flush=True)
        try:
            result = launch_step(copy.deepcopy(ir), node, args.run_id, mlmd)  # launch_step sets the run id in it
        except LookupError:
            raise  # an unknown node: a usage problem, not a failed step
        except Exception as exc:  # noqa: BLE001 - reported as a failed step with its cause
            gate = find_validation_error(exc)
            for page in pages:
                views.write_view(page, node, NodeStatus.FAILED, time.monotonic() - started, {}, exc)
            console.error(f"step {node}: failed after {time.monotonic() - started:.1f} s: {gate or exc}")
            return EXIT_BLOCKED if gate else EXIT_FAILED
        for page in pages:
            views.write_view(page, node, result.status, result.seconds, result.outputs)
        console.progress(node, index + 1, len(args.node), result)
    return 0


def volume_view(ir: Any, run_id: str, node: str) -> str | None:
    """Where a step's view also goes: <pipeline_root>/views/<run id>/<node>.html, as local runs
    keep theirs, when the pipeline root is a mounted path. KFP's launcher uploads a task's
    outputs (its `--view`) only when the command succeeded (backend/src/v2/component/
    launcher_v2.go:715-716 at 2.17.0), so without this copy the page of a failed step, the
    gate's with each anomaly named, would be lost."""
    root = ir.runtime_spec.pipeline_root
    value = root.field_value.string_value or root.runtime_parameter.default_value.string_value
    if not value or "://" in value:
        return None
    return str(Path(value) / "views" / run_id / f"{node}.html")


def cmd_alert(config: Any, args: argparse.Namespace) -> int:
    """The run's outcome from ML Metadata, as `ct history` reads it: the run has ended (this is
    its exit handler), so a node still RUNNING there was killed, and no record at all means it
    failed before its first TFX node. Never fails: a delivery problem is only reported."""
    from pipelines import alerts, lineage
    from pipelines.names import Outcome
    from pipelines.reports.summary import RunSummary

    with lineage.open_store(args.metadata) as store:
        records = [r for r in lineage.runs(store, config.pipeline_name) if r.run_id == args.run_id]
        findings = lineage.gate_findings(store, args.run_id, config.pipeline_name)
    record = records[0] if records else None
    outcome = record.outcome if record else f"{Outcome.FAILED} before its first TFX node"
    summary = RunSummary(newest_span=record.spans[-1] if record and record.spans else None)
    if outcome.startswith(Outcome.BLOCKED):
        summary.status, summary.anomalies = Outcome.BLOCKED, findings
        summary.reason = f"span {summary.newest_span} failed data validation"
    elif outcome.startswith(Outcome.NOT_BLESSED):
        summary.status = Outcome.NOT_BLESSED
    elif outcome.startswith((Outcome.FAILED, Outcome.RUNNING)):
        summary.status, summary.reason = Outcome.FAILED, outcome.replace(Outcome.RUNNING, "killed", 1)
    else:
        summary.status = outcome.split()[0]
    print(f"alert: run {args.run_id}: {outcome}")
    sent = alerts.for_run(summary, config.pipeline_name, args.run_id)
    alerts.send(sent, config.alertmanager_url, config.alert_webhook_url)
    if not sent:
        print("alert: nothing to tell")
    return 0
