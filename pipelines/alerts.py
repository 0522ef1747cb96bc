"""Alerts: tell people when continuous training needs them.

Raised for a blocked span (with the gate's anomaly lines), a candidate not blessed, a failed run,
and drift, skew or degradation that the trigger found. Delivered, each optional, to:
  * Prometheus Alertmanager's v2 API: POST /api/v2/alerts with a JSON list of
    {labels, annotations, startsAt, generatorURL}; Alertmanager groups, deduplicates (by labels),
    silences and routes them to people (mail, chat, paging). No endsAt: Alertmanager resolves an
    alert after its resolve_timeout (5 min by default) unless it is sent again;
  * a plain JSON webhook: {"version": "1", "alerts": [the same objects]}.
A delivery that fails is reported on the console and never fails or blocks the pipeline.

Written here rather than taken from a library: the Python clients of Alertmanager's API are
generated code for its whole API; one POST of documented JSON needs only the standard library.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import urllib.request
from collections.abc import Callable

from pipelines.names import Outcome

NAMES = {
    Outcome.BLOCKED: "OpenctSpanBlocked",
    Outcome.NOT_BLESSED: "OpenctModelNotBlessed",
    Outcome.FAILED: "OpenctRunFailed",
    "drift": "OpenctDrift",
    "skew": "OpenctSkew",
    "degradation": "OpenctDegradation",
}
CRITICAL = (Outcome.BLOCKED, Outcome.FAILED)
TIMEOUT = 10.0


@dataclasses.dataclass
class Alert:
    kind: str  # a key of NAMES
    pipeline: str
    summary: str
    details: list[str]
    run: str = ""
    span: int | None = None
    version: int | None = None  # the model version concerned (the serving one, for drift and the like)

    def to_json(self, now: dt.datetime, link: str = "") -> dict:
        labels = {
            "alertname": NAMES[self.kind],
            "pipeline": self.pipeline,
            "severity": "critical" if self.kind in CRITICAL else "warning",
        }
        if self.span is not None:
            labels["span"] = str(self.span)
        annotations = {"summary": self.summary, "description": "\n".join(self.details), "run": self.run}
        if self.version is not None:
            annotations["version"] = str(self.version)
        body = {"labels": labels, "annotations": annotations, "startsAt": now.isoformat().replace("+00:00", "Z")}
        if link:
            body["generatorURL"] = link
        return body


def for_run(summary, pipeline: str, run: str) -> list[Alert]:
    """The alert a local run's RunSummary raises, if any: blocked, not blessed or failed."""
    span, status = summary.newest_span, summary.status
    if status == Outcome.BLOCKED:
        return [Alert(status, pipeline, f"{summary.reason}: nothing trained or pushed", summary.anomalies, run, span)]
    if status == Outcome.NOT_BLESSED:
        return [
            Alert(
                status,
                pipeline,
                f"the candidate trained on span {span} was not blessed; the previous version keeps serving",
                summary.validation_failures,
                run,
                span,
            )
        ]
    if status == Outcome.FAILED:
        return [Alert(status, pipeline, f"run failed: {summary.reason.splitlines()[0]}", [summary.reason], run, span)]
    return []


def send(
    alerts: list[Alert],
    alertmanager_url: str,
    webhook_url: str,
    link: str = "",
    report: Callable[[str], None] = print,
) -> list[str]:
    """Delivers `alerts` where configured; returns (and reports) what could not be delivered."""
    if not alerts or not (alertmanager_url or webhook_url):
        return []
    bodies = [a.to_json(dt.datetime.now(dt.UTC), link) for a in alerts]
    targets: list[tuple[str, object]] = []
    if alertmanager_url:
        targets.append((f"{alertmanager_url.rstrip('/')}/api/v2/alerts", bodies))
    if webhook_url:
        targets.append((webhook_url, {"version": "1", "alerts": bodies}))
    failures = []
    for url, payload in targets:
        try:
            request = urllib.request.Request(
                url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
            )
            with urllib.request.urlopen(request, timeout=TIMEOUT):  # noqa: S310 - a configured URL
                pass
        except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, a malformed URL
            failures.append(f"alert not delivered to {url}: {exc}")
    names = ", ".join(sorted({b["labels"]["alertname"] for b in bodies}))
    for failure in failures:
        report(f"warning: {failure}")
    if len(failures) < len(targets):
        report(f"alerts: {names} sent ({len(targets) - len(failures)} of {len(targets)} destinations)")
    return failures
