"""`openct local run`: the whole pipeline on this machine (TFX launcher, SQLite ML Metadata, Beam)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipelines.cli import EXIT_BLOCKED, EXIT_FAILED, console
from pipelines.cli.data import prepare_spans

NAME = "local"
HELP = "run the pipeline on this machine"


def register(commands: Any) -> None:
    p = commands.add(
        "run",
        cmd_run,
        "cut missing spans, run the pipeline locally, print a summary "
        "(exit 0 pushed / not-blessed / unchanged, 1 failed, 3 stopped by the data gate)",
    )
    p.add_argument("--no-prepare", action="store_true", help="do not cut missing spans first")
    p.add_argument("--summary-json", default=None, help="also write the run summary as JSON here")


def cmd_run(config: Any, args: argparse.Namespace) -> int:
    if not args.no_prepare:
        prepare_spans(config)
    return run_and_report(config, args, trigger="manual")


def run_and_report(config: Any, args: argparse.Namespace, trigger: str) -> int:
    """A local run with progress lines and the summary; the exit code says how it ended."""
    from pipelines import alerts
    from pipelines.names import Outcome
    from pipelines.runners.local import run_local

    print(
        f"pipeline '{config.pipeline_name}': dataset {config.spec.name}, window {config.window_spans} spans, "
        f"metadata {config.metadata}",
        flush=True,
    )
    summary = run_local(config, progress=console.progress, trigger=trigger)
    print(summary.format(), flush=True)
    alerts.send(
        alerts.for_run(summary, config.pipeline_name, summary.run_id or trigger),
        config.alertmanager_url,
        config.alert_webhook_url,
        Path(summary.views_dir).resolve().as_uri() if summary.views_dir else "",
    )
    if getattr(args, "summary_json", None):
        Path(args.summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_json).write_text(summary.to_json())
    if summary.status == Outcome.BLOCKED:
        console.error(f"error: run stopped by the data validation gate: {summary.reason}")
        return EXIT_BLOCKED
    if not summary.ok:
        console.error(f"error: run failed: {summary.reason}")
        return EXIT_FAILED
    return 0
