"""`openct ct ...`: continuous training: start runs when something changed; what ran, what serves."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import time
from pathlib import Path
from typing import Any

from pipelines.cli import console
from pipelines.config import STORE_SETTINGS
from pipelines.names import TRIGGER_REASONS

NAME = "ct"
HELP = "continuous training: trigger runs; models, runs and a replay from ML Metadata"


def register(commands: Any) -> None:
    from pipelines.cli.kfp import add_run_flags

    p = commands.add(
        "trigger",
        cmd_trigger,
        "start a run when a new span has arrived and the checks say so (locally, or on KFP with --kfp)",
    )
    _metadata_flag(p)
    p.add_argument(
        "--on",
        default=",".join(TRIGGER_REASONS),
        help=f"what may start a run, comma-separated (default: {','.join(TRIGGER_REASONS)})",
    )
    p.add_argument("--summary-json", default=None, help="also write the local run's summary as JSON here")
    p.add_argument("--kfp", action="store_true", help="start the run on Kubeflow Pipelines ($KFP_HOST)")
    p.add_argument("--host", default=None, help="KFP API/UI address (default $KFP_HOST or http://localhost:8080)")
    p.add_argument(
        "--stale-after",
        type=int,
        default=180,
        metavar="MINUTES",
        help="a KFP run active but unchanged this long (CANCELING: 10 min) no longer blocks a new one (default 180)",
    )
    add_run_flags(p)
    p = commands.add(
        "status",
        cmd_status,
        "model versions: spans, metrics, blessed, pushed, serving",
        (*STORE_SETTINGS, "dataset", "serving_dir", "model_name"),
    )
    _metadata_flag(p)
    p.add_argument(
        "--artifacts-at",
        default=None,
        metavar="RUN_PATH=LOCAL_PATH",
        help="read artifacts that runs wrote under RUN_PATH from LOCAL_PATH (a cluster's volume here), "
        "e.g. /mnt/openct=build/kind-volumes/pipeline",
    )
    _metadata_flag(commands.add("history", cmd_history, "pipeline runs: trigger, duration, outcome", STORE_SETTINGS))
    p = commands.add(
        "replay",
        cmd_replay,
        "replay the spans in time order, each followed by a trigger "
        "(a corrupted and a drifted span); write a timeline (PNG, table)",
    )
    p.add_argument("--out", default=None, help="replay directory (default build/replay/<time>; must not exist)")
    p.add_argument("--corrupt-at", type=int, default=6, help="this arriving span is corrupted (0: none)")
    p.add_argument("--drift-at", type=int, default=10, help="this arriving span is drifted (0: none)")
    p.add_argument("--upto", type=int, default=None, help="stop after this span")


def _metadata_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metadata", default=None, help="ML Metadata: grpc://HOST:PORT or sqlite:///PATH (default: the local store)"
    )


def cmd_trigger(config: Any, args: argparse.Namespace) -> int:
    from pipelines import alerts
    from pipelines.cli.kfp import connect, start_run
    from pipelines.cli.local import run_and_report
    from pipelines.ct import triggers

    enabled = tuple(r.strip() for r in args.on.split(",") if r.strip())
    unknown = set(enabled) - set(TRIGGER_REASONS)
    if unknown:
        raise ValueError(f"--on {args.on!r}: unknown {sorted(unknown)}; choose from {', '.join(TRIGGER_REASONS)}")
    if not args.kfp:
        from pipelines.runners.local import run_in_flight

        holder = run_in_flight(config.metadata)
        if holder:
            return _nothing(f"a run is in flight on {config.metadata} ({holder})", "in-flight")
    decision = triggers.decide(config, args.metadata, enabled)
    print(f"trigger: {decision.reason}", flush=True)
    alerts.send(triggers.alerts_of(decision, config), config.alertmanager_url, config.alert_webhook_url)
    if not decision.start:
        return _nothing("no run started", decision.rule)
    print(f"trigger: decided by rule {decision.rule}: starting a run", flush=True)
    if not args.kfp:
        return run_and_report(config, args, trigger=decision.trigger)
    _, host, client = connect(args)
    active, stuck = triggers.active_runs(client, dt.timedelta(minutes=args.stale_after))
    for warning in stuck:
        print(f"trigger: warning: {warning}")
    if active:
        return _nothing(f"{len(active)} KFP run(s) still active ({active[0]['run_id']}): nothing started", "in-flight")
    run_id, link = start_run(config, args, client, host, {"span": decision.span}, decision.trigger)
    print(f"trigger: started KFP run {run_id} on span {decision.span}: {link}")
    return 0


def _nothing(reason: str, rule: str) -> int:
    """`ct trigger` found nothing to do: says which rule decided, exits EXIT_NOTHING."""
    from pipelines.cli import EXIT_NOTHING

    print(f"trigger: {reason}; decided by rule {rule} (exit {EXIT_NOTHING}: nothing to do)")
    return EXIT_NOTHING


def store_uri(config: Any, args: argparse.Namespace) -> str:
    from pipelines.ct import triggers

    uri = triggers.store_uri(config, args.metadata)
    if uri is None:
        raise FileNotFoundError(f"no ML Metadata store at {config.metadata}: nothing has run yet")
    return uri


def cmd_status(config: Any, args: argparse.Namespace) -> int:
    from pipelines import lineage, serving
    from pipelines.reports.summary import span_ranges

    served = serving.served_version(config.serving_dir, config.served_model_name)
    artifacts_at = None
    if args.artifacts_at:
        there, sep, here = args.artifacts_at.partition("=")
        if not sep or not there or not here:
            raise ValueError(f"--artifacts-at {args.artifacts_at!r}: expected RUN_PATH=LOCAL_PATH")
        artifacts_at = (there, here)
    with lineage.open_store(store_uri(config, args)) as store:
        records = lineage.models(store, served, artifacts_at=artifacts_at)
        changes = lineage.serving_changes(store)
    print(
        f"{'model':>6} {'trained':<19} {'spans':<10} {'auc':>7} {'accuracy':>8} {'blessed':<8} {'pushed':<26} serving"
    )
    for m in records:
        pushed = f"v{m.pushed_version} {m.pushed_at:%Y-%m-%d %H:%M:%S}" if m.pushed_version else "-"
        blessed = "-" if m.blessed is None else ("yes" if m.blessed else "no")
        auc, acc = m.metrics.get("auc"), m.metrics.get("binary_accuracy")
        print(
            f"{m.model_id:>6} {m.created:%Y-%m-%d %H:%M:%S} {span_ranges(m.spans):<10} "
            f"{'-' if auc is None else f'{auc:.4f}':>7} {'-' if acc is None else f'{acc:.4f}':>8} "
            f"{blessed:<8} {pushed:<26} {'<- serving' if m.serving else ''}"
        )
    from components import serving_config
    from components.versions import served_versions
    from pipelines.cli.serving import status_line

    state = serving_config.read(config.serving_dir, config.served_model_name)
    line = status_line(state, served, served_versions(config.model_serving_dir), changes[-1] if changes else None)
    print(f"serving: {line} (under {config.model_serving_dir})")
    return 0


def cmd_history(config: Any, args: argparse.Namespace) -> int:
    from pipelines import lineage
    from pipelines.reports.summary import span_ranges

    uri = store_uri(config, args)
    with lineage.open_store(uri) as store:
        records = lineage.runs(store, config.pipeline_name)
        accepted = lineage.acceptances(store)
        changes = lineage.serving_changes(store)
    if "://" not in uri:
        from pipelines.names import Outcome
        from pipelines.runners.local import run_in_flight

        if run_in_flight(uri) is None:  # no local run holds the store: a "running" one was killed
            for r in records:
                if r.outcome.startswith(Outcome.RUNNING):
                    r.outcome = "interrupted" + r.outcome[len(Outcome.RUNNING) :]
    rows = (
        [(r.started, f"{r.seconds:8.1f}", r.trigger, span_ranges(r.spans), r.outcome) for r in records]
        + [
            (
                a.time,
                f"{'-':>8}",
                "data accept",
                str(a.span),
                f"accepted {a.checks_text} by {a.by}: {a.reason}",
            )
            for a in accepted
        ]
        + [(c.time, f"{'-':>8}", f"serving {c.action}", "-", c.text) for c in changes]
    )
    width = max([len("trigger"), *(len(r[2]) for r in rows)])
    print(f"{'started':<19} {'seconds':>8} {'trigger':<{width}} {'ingested':<9} outcome")
    for started, seconds, trigger, spans, outcome in sorted(rows, key=lambda r: r[0]):
        print(f"{started:%Y-%m-%d %H:%M:%S} {seconds} {trigger:<{width}} {spans:<9} {outcome}")
    return 0


def cmd_replay(config: Any, args: argparse.Namespace) -> int:
    from pipelines.ct.replay import replay, write_timeline
    from pipelines.runners.local import run_local

    out = Path(args.out or Path(config.pipeline_root).parent / "replay" / dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    scratch = config.replace(
        data_root=str(out / "data"),
        pipeline_root=str(out / "pipeline"),
        serving_dir=str(out / "serving"),
        metadata_path="",
    )
    print(f"replay into {out}: spans arrive one at a time, each followed by `openct ct trigger`", flush=True)
    started = time.monotonic()
    timeline = replay(
        scratch,
        args.corrupt_at or None,
        args.drift_at or None,
        args.upto,
        report=lambda line: print(line, flush=True),
        run=functools.partial(run_local, progress=console.progress),
    )
    from pipelines import lineage

    with lineage.open_store(scratch.metadata) as store:
        checks = lineage.data_check_results(store)
    files = write_timeline(timeline, out, scratch, checks)
    print(files[1].read_text())
    print(files[3].read_text())
    print(
        f"replay: {len(timeline)} arrivals, {sum(a.started for a in timeline)} runs, "
        f"{time.monotonic() - started:.0f} s; timeline: {', '.join(map(str, files))}"
    )
    return 0
