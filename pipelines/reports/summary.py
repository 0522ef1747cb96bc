"""What a person wants to know at the end of a run, read from the run's artifacts.

Spans used, anomalies, evaluation metrics of the candidate against the baseline, blessed or
not, and the pushed version or the reason nothing was pushed.
"""

from __future__ import annotations

import dataclasses
import math

from pipelines.names import Outcome
from pipelines.pipeline.evaluation import SHOWN_METRICS


@dataclasses.dataclass
class RunSummary:
    status: str = Outcome.FAILED  # an Outcome
    run_id: str = ""  # the main run's id in ML Metadata (its pipeline_run context)
    spans: list[int] = dataclasses.field(default_factory=list)
    newest_span: int | None = None
    ingested: list[int] = dataclasses.field(default_factory=list)  # spans ingested by this run
    eval_spans: list[int] = dataclasses.field(default_factory=list)  # what the Evaluator judged on
    anomalies: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)  # data checks that failed but do not block
    metrics: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)  # model -> name -> value
    validation_failures: list[str] = dataclasses.field(default_factory=list)
    blessed: bool | None = None
    has_baseline: bool = False
    pushed_version: int | None = None
    pushed_path: str = ""
    reason: str = ""
    seconds: float = 0.0
    cached_nodes: int = 0
    ran_nodes: int = 0
    evaluation_uri: str = ""
    views_dir: str = ""  # one HTML page per node (pipelines.reports.views)
    node_seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # per component, summed

    def to_json(self) -> str:
        import json

        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @property
    def ok(self) -> bool:
        return Outcome(self.status).ok

    def format(self) -> str:
        lines = [
            "",
            "=" * 72,
            f"Run summary: {self.status.upper()}  ({self.seconds:.1f} s, "
            f"{self.ran_nodes} nodes ran, {self.cached_nodes} cached)",
        ]
        if self.spans:
            lines.append(
                f"  spans used       : {span_ranges(self.spans)} (newest {self.newest_span})"
                + (f"; ingested now: {span_ranges(self.ingested)}" if self.ingested else "")
            )
        if self.eval_spans:
            why = ""
            if self.eval_spans == self.spans[:-1]:
                why = " (the window without its newest span)"
            elif self.eval_spans != self.spans:
                why = " (the newest vetted spans, up to eval_max_rows rows)"
            lines.append(f"  evaluated on     : {span_ranges(self.eval_spans)}{why}")
        lines.append(f"  anomalies        : {len(self.anomalies) or 'none'}")
        lines.extend(f"      {a}" for a in self.anomalies)
        if self.warnings:
            lines.append(f"  warnings         : {len(self.warnings)} (data checks that failed but do not stop a span)")
            lines.extend(f"      {w}" for w in self.warnings)
        if self.metrics:
            models = [m for m in ("candidate", "baseline") if m in self.metrics]
            lines.append(
                "  evaluation       : "
                + "   ".join(f"{m:>10}" for m in models)
                + ("      change" if len(models) == 2 else "")
            )
            for name in SHOWN_METRICS:
                vals = [self.metrics[m].get(name) for m in models]
                if all(v is None for v in vals):
                    continue
                row = "   ".join(f"{_fmt(v):>10}" for v in vals)
                if len(vals) == 2 and name != "example_count":
                    candidate, baseline = vals
                    if candidate is not None and baseline is not None:
                        row += f"   {candidate - baseline:+9.4f}"
                lines.append(f"    {name:<15}: {row}")
            if not self.has_baseline:
                lines.append("    (no baseline: first model for this window; absolute thresholds only)")
            if self.evaluation_uri:
                lines.append(f"    TFMA results : {self.evaluation_uri}")
        if self.blessed is not None:
            lines.append(f"  blessed          : {'yes' if self.blessed else 'no'}")
            lines.extend(f"      {f}" for f in self.validation_failures)
        if self.pushed_version is not None:
            lines.append(f"  pushed           : version {self.pushed_version} -> {self.pushed_path}")
        else:
            lines.append(f"  pushed           : nothing ({self.reason})")
        if self.views_dir:
            lines.append(f"  views            : {self.views_dir}/<node>.html")
        lines.append("=" * 72)
        return "\n".join(lines)


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.0f}" if float(v).is_integer() and v > 1 else f"{v:.4f}"


def span_ranges(nums: list[int]) -> str:
    nums = sorted(nums)
    if not nums:
        return "-"
    out, start, prev = [], nums[0], nums[0]
    for n in nums[1:] + [None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(out)
