"""Continuous-training triggers: start a run when there is something new to learn from.

A span on disk newer than every span ML Metadata has seen ingested (the store, not a side file,
is the memory) is checked four ways, each of which can start a run (`--on`, default all):
  new-span     the new data itself;
  drift        TFDV drift of the new span against the serving model's training window
               (comparators of the curated schema), pipelines.ct.monitoring;
  skew         TFDV skew of the requests logged to the serving model against that window
               (only when `openct serving predict` has logged requests);
  degradation  the serving model's AUC/accuracy on the new, labelled span below the thresholds.
Every check is reported (console and <pipeline_root>/reports/span-<N>.json). A second call with
nothing new starts nothing. Before the checks, the trigger policy of the configuration can say
"not now" (`policy`): too few new rows, inside the cooldown, the day's budget of runs spent; and
nothing starts while a run is in flight (locally: the store's lock; on Kubeflow: an active run). Locally the run is `openct local run`'s; on Kubeflow it is a KFP run of the
uploaded pipeline on that span, and nothing starts while an earlier run is still active (its
ExampleGen may not have recorded the span yet).
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from pipelines import lineage, serving
from pipelines.alerts import Alert
from pipelines.config import PipelineConfig
from pipelines.ct import monitoring
from pipelines.data.spans import existing_spans
from pipelines.names import TRIGGER_REASONS
from pipelines.reports.summary import span_ranges

ACTIVE = ("PENDING", "RUNNING", "PAUSED", "CANCELING")
# KFP 2.17.0 sets CANCELING when asked to terminate a run (backend/src/apiserver/storage/
# run_store.go:823-846, without a state_history entry: the TODO at line 824) and only the
# persistence agent moves it on, when Argo reports the workflow's end. A workflow deleted meanwhile
# never reports, so the run stays CANCELING for good: deleting a recurring run deletes the
# workflows it owns (backend/src/crd/controller/scheduledworkflow/util/scheduled_workflow.go:188
# sets the owner reference), which is how `make unschedule` during a run left one behind. A cancel
# that Argo carries out ends within seconds; this is the grace before such a run stops counting.
CANCEL_GRACE = timedelta(minutes=10)
# A local run's back-fill sections are runs of their own in ML Metadata (runners.local: run ids
# "<trigger>:backfill-..."); the policy counts the run they belong to, once.
BACKFILL_SECTION = ":backfill-"


@dataclasses.dataclass
class Decision:
    start: bool
    reason: str
    rule: str = ""  # what decided: new-span, no-new-span, min-new-rows, cooldown, daily-budget, in-flight, checks
    span: int | None = None  # the span to run on
    fresh: list[int] = dataclasses.field(default_factory=list)  # spans on disk newer than every ingested one
    trigger: str = ""  # recorded in the run id, e.g. "new-span+drift-17"
    drift: monitoring.DriftReport | None = None
    skew: monitoring.DriftReport | None = None
    quality: monitoring.QualityReport | None = None


def alerts_of(decision: Decision, config: PipelineConfig) -> list[Alert]:
    """Drift, skew and degradation found on the new span, one alert each (the run they start, if
    any, is named by its trigger)."""
    found = [
        ("drift", decision.drift.drifted if decision.drift else [], decision.drift),
        ("skew", decision.skew.drifted if decision.skew else [], decision.skew),
    ]
    out = [
        Alert(
            kind,
            config.pipeline_name,
            f"{kind} of {report.subject} against the training window",
            lines,
            decision.trigger,
            decision.span,
        )
        for kind, lines, report in found
        if lines and report
    ]
    quality = decision.quality
    problems = quality.degraded(config) if quality else []
    if quality and problems:
        out.append(
            Alert(
                "degradation",
                config.pipeline_name,
                f"serving model v{quality.version} degraded on span {quality.span}",
                problems,
                decision.trigger,
                decision.span,
                quality.version,
            )
        )
    return out


def store_uri(config: PipelineConfig, metadata: str | None) -> str | None:
    """The store to ask: an explicit URI, else the local SQLite file when it exists."""
    if metadata:
        return metadata
    return config.metadata if os.path.exists(config.metadata) else None


def local_roots(config: PipelineConfig) -> None:
    """The checks read spans, request logs and reports with local file APIs (pandas, csv, pathlib):
    a bucket URI would look like an empty directory, so it is refused with the way out."""
    for flag, root in (
        ("--data-root", config.data_root),
        ("--pipeline-root", config.pipeline_root),
        ("--serving-dir", config.serving_dir),
    ):
        if "://" in root:
            raise ValueError(
                f"{flag} {root}: the trigger reads local paths only; mount the bucket "
                "(e.g. Cloud Storage FUSE) and give the mount path"
            )


def new_data(config: PipelineConfig, metadata: str | None = None) -> Decision:
    local_roots(config)
    present = existing_spans(config.data_root)
    if not present:
        return Decision(False, f"no spans under {config.data_root}", "no-new-span")
    uri = store_uri(config, metadata)
    seen: set[int] = set()
    if uri:
        with lineage.open_store(uri) as store:
            seen = lineage.ingested_spans(store)
    newest_seen = max(seen, default=0)
    if present[-1] <= newest_seen:
        return Decision(
            False,
            f"no new span: newest on disk is {present[-1]}, already ingested "
            f"(newest ingested {newest_seen}); nothing started",
            "no-new-span",
        )
    fresh = [s for s in present if s > newest_seen]
    reason = f"new span(s) {', '.join(map(str, fresh))} since span {newest_seen or '-'}"
    return Decision(True, reason, "new-span", span=present[-1], fresh=fresh)


def policy(
    config: PipelineConfig, metadata: str | None, fresh: list[int], now: datetime | None = None
) -> Decision | None:
    """The configuration's trigger policy on new spans `fresh`: a Decision not to start, naming
    the rule and when it may start, or None when the policy lets a run start."""
    from pipelines.data.spans import read_rows, span_path

    if config.trigger_min_new_rows:
        rows = sum(sum(1 for _ in read_rows(span_path(config.data_root, s))[1]) for s in fresh)
        if rows < config.trigger_min_new_rows:
            return Decision(
                False,
                f"{rows} new rows in span(s) {span_ranges(fresh)} < {config.trigger_min_new_rows} "
                "(trigger_min_new_rows): waiting for more data",
                "min-new-rows",
            )
    uri = store_uri(config, metadata)
    if not uri or not (config.trigger_cooldown_minutes or config.trigger_daily_runs):
        return None
    with lineage.open_store(uri) as store:
        started = sorted(
            r.started for r in lineage.runs(store, config.pipeline_name) if BACKFILL_SECTION not in r.run_id
        )
    now = now or datetime.now()  # lineage's times are local, naive
    cooldown = timedelta(minutes=config.trigger_cooldown_minutes)
    if started and cooldown and now - started[-1] < cooldown:
        return Decision(
            False,
            f"the last run started {(now - started[-1]).total_seconds() / 60:.0f} min ago, at {started[-1]:%H:%M}; "
            f"cooldown {config.trigger_cooldown_minutes} min (trigger_cooldown_minutes): "
            f"not before {started[-1] + cooldown:%Y-%m-%d %H:%M}",
            "cooldown",
        )
    today = [t for t in started if now - t < timedelta(days=1)]
    if config.trigger_daily_runs and len(today) >= config.trigger_daily_runs:
        return Decision(
            False,
            f"{len(today)} runs started in the last 24 h, budget {config.trigger_daily_runs} (trigger_daily_runs): "
            f"not before {today[-config.trigger_daily_runs] + timedelta(days=1):%Y-%m-%d %H:%M}",
            "daily-budget",
        )
    return None


def blocking_runs(
    runs: list[dict[str, Any]], stale_after: timedelta, now: datetime | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Which of KFP's `runs` (kfp_client.recent_runs) keep the trigger from starting another, and
    a warning for each active run too old to count, saying what to do.

    A run counts while KFP holds it in an active state and its last recorded state change is
    recent: `stale_after` for any active state (a run of ours takes minutes; one unchanged for
    hours has lost its workflow or its cluster), CANCEL_GRACE for CANCELING (see above). Without
    this, one lost run would keep continuous training from ever starting again, silently."""
    now = now or datetime.now(UTC)
    blocking, stuck = [], []
    for run in runs:
        if run["state"] not in ACTIVE:
            continue
        limit = min(stale_after, CANCEL_GRACE) if run["state"] == "CANCELING" else stale_after
        changed = run.get("changed")
        age = now - changed if changed else None
        if age is None or age <= limit:
            blocking.append(run)
            continue
        stuck.append(
            f"KFP run {run['run_id']} ({run['name']}) has been {run['state']} since {changed:%Y-%m-%d %H:%M} UTC "
            f"({age.total_seconds() / 60:.0f} min, limit {limit.total_seconds() / 60:.0f} min): not counted as "
            "active. KFP will not move it on if its Argo workflow is gone; check it "
            f"(kubectl -n kubeflow get workflows -l pipeline/runid={run['run_id']}) and delete the run "
            f"(KFP UI, or: kfp --endpoint $KFP_HOST run delete {run['run_id']})"
        )
    return blocking, stuck


def active_runs(client, stale_after: timedelta) -> tuple[list[dict[str, Any]], list[str]]:
    """The KFP runs that block a new one, and warnings for stuck ones (blocking_runs)."""
    from pipelines.runners import kfp_client

    return blocking_runs(kfp_client.recent_runs(client, 50), stale_after)


def training_window(config: PipelineConfig, uri: str | None, span: int, serving: int | None) -> list[int]:
    """The spans the `serving` version was trained on; before any push, the spans before `span`."""
    if uri and serving:
        with lineage.open_store(uri) as store:
            for model in lineage.models(store, serving, with_metrics=False):
                if model.serving and model.spans:
                    return model.spans
    return [s for s in existing_spans(config.data_root) if s < span][-config.window_spans :]


def decide(config: PipelineConfig, metadata: str | None = None, on: tuple[str, ...] = TRIGGER_REASONS) -> Decision:
    """Whether to start a run now, and why: new data, drift, skew, degradation (see module doc)."""
    decision = new_data(config, metadata)
    if not decision.start:
        return decision
    refused = policy(config, metadata, decision.fresh)
    if refused is not None:
        refused.reason = f"{decision.reason}; not now: {refused.reason}"
        return refused
    span = decision.span
    assert span is not None  # new_data names the span whenever it starts a run
    served = serving.served_version(config.serving_dir, config.served_model_name)
    uri = store_uri(config, metadata)
    window = training_window(config, uri, span, served)
    stored: dict[int, tuple[str, list[str]]] = {}
    if uri and window:
        with lineage.open_store(uri) as store:
            stored = lineage.span_statistics(store, window)
    failed: dict[str, str] = {}
    try:
        decision.drift = monitoring.drift(config, span, window, stored) if window else None
    except ValueError as e:  # an unreadable span: reported; the run's gate names the problem too
        failed["drift"] = str(e)
    if served and window:
        decision.skew = monitoring.skew(config, served, window, stored)
    try:
        decision.quality = monitoring.serving_quality(config, span)
    except ValueError as e:
        failed["degradation"] = str(e)
    found = {
        "new-span": [decision.reason],
        "drift": decision.drift.drifted if decision.drift else [],
        "skew": decision.skew.drifted if decision.skew else [],
        "degradation": decision.quality.degraded(config) if decision.quality else [],
    }
    reasons = [r for r in TRIGGER_REASONS if r in on and found[r]]
    decision.start = bool(reasons)
    decision.rule = "+".join(reasons) if reasons else "checks"
    decision.trigger = f"{'+'.join(reasons)}-{span}" if reasons else ""
    lines = [decision.reason]
    for name, report in (("drift", decision.drift), ("skew", decision.skew)):
        if report:
            lines.append(
                f"{name} of {report.subject} vs spans {span_ranges(window)} (max value/threshold "
                f"{report.score:.2f}): " + ("; ".join(report.drifted) or "none")
            )
    if decision.quality:
        q = decision.quality
        lines.append(
            f"serving model v{q.version} on span {span} ({q.rows} rows): AUC "
            f"{'-' if q.auc is None else f'{q.auc:.3f}'}, accuracy {q.accuracy:.3f}: "
            + ("; ".join(q.degraded(config)) or "not degraded")
        )
    lines += [f"{check} check not run: {error}" for check, error in failed.items()]
    lines.append(
        f"start a run: {'yes (' + ', '.join(reasons) + ')' if reasons else 'no (checks enabled: ' + ', '.join(on) + ')'}"
    )
    decision.reason = "\n  ".join(lines)
    monitoring.write_report(
        config,
        span,
        {
            "span": span,
            "window": window,
            "reasons": reasons,
            "enabled": list(on),
            "drift": dataclasses.asdict(decision.drift) if decision.drift else None,
            "drift_score": decision.drift.score if decision.drift else None,
            "skew": dataclasses.asdict(decision.skew) if decision.skew else None,
            "quality": dataclasses.asdict(decision.quality) if decision.quality else None,
            "checks_not_run": failed,
        },
    )
    return decision
