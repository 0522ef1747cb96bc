"""Span-vs-history data checks: what a schema cannot see (pure Python; the component is data_checks).

ExampleValidator judges a span against the curated schema alone: fixed types, domains and
presence. It cannot see a span with a tenth of the usual rows, a column that went from 30% to 90%
missing, rows exported twice, timestamps in milliseconds, a label that flipped, or fares in
cents. Each is only visible against the spans the serving model was trained on, so every check
here compares this span's *profile* with the profiles of the validated spans before it.

Why our own code (docs/design/data-checks.md has the file:line reading of TFX/TFDV 1.21):
- TFDV's comparators (`drift_comparator`, `num_examples_drift_comparator`, used by
  DistributionValidator) compare one previous span, and only distributions of present values or
  the row count; none reads missing fractions, quantile values, zero counts or a label rate, and
  TFDV skips every check of a split without rows. TFDV 1.21 removed SQL custom validations.
- Duplicate rows and a derived label rate are not computed by TFDV at all.
The statistics themselves are TFDV's (StatisticsGen's FeatureStats.pb: counts, missing, zeros,
min/max and the deciles of its QUANTILES histogram); only duplicates and the label rate need a
pass over the rows (components.data_checks).

Every relative threshold is the history's extreme plus a margin that is the larger of an absolute
effect size and a noise bound (`sigmas` standard errors at this span's row count), because spans
of ~200 rows and real trends (the taxi label rate moves from 0.14 to 0.28 over 4 years) break
naive thresholds. With no history (the first span) only the absolute checks run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

CLASSES = ("volume", "finiteness", "completeness", "duplication", "time", "label", "scale")
DATASET = "(dataset)"  # the feature name of span-level checks (as the gate's NO_ROWS)
PLAUSIBLE_MIN_SECONDS = 946684800  # 2000-01-01: earlier "Unix seconds" are a unit or parsing error
LAYOUT_FILE = "layout.json"  # <data_root>/layout.json: how spans were cut (pipelines.data.spans writes it)


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Where a span is judged too far from its history; defaults measured on the 16 taxi spans
    (README, "Data checks": the worst clean span and its margin to each threshold)."""

    volume_min_ratio: float = 0.1  # rows < this x the history's smallest span: too few
    volume_max_ratio: float = 10.0  # rows > this x the history's largest span: too many
    missing_margin: float = 0.1  # missing (or zero) share > history max + this: incomplete
    duplicate_margin: float = 0.02  # duplicate-row share > history max + this
    label_max_shift: float = 0.1  # |label rate - history mean| > this: the label moved
    scale_factor: float = 3.0  # deciles moved by more than this factor (or 1/factor): a unit change
    scale_factors: Mapping[str, float] = dataclasses.field(default_factory=dict)  # per feature
    sigmas: float = 4.0  # noise bound: this many binomial standard errors at the span's row count
    nonfinite_allowed: Sequence[str] = ()  # numeric columns that may hold NaN or infinities

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Thresholds:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown data check thresholds {sorted(unknown)}")
        return cls(
            **{
                **data,
                "scale_factors": dict(data.get("scale_factors", {})),
                "nonfinite_allowed": tuple(data.get("nonfinite_allowed", ())),
            }
        )

    def __post_init__(self) -> None:
        if not 0 < self.volume_min_ratio < 1 < self.volume_max_ratio:
            raise ValueError("data checks: need 0 < volume_min_ratio < 1 < volume_max_ratio")
        if min(self.missing_margin, self.duplicate_margin, self.label_max_shift, self.sigmas) < 0:
            raise ValueError("data checks: margins and sigmas must be >= 0")
        if any(f <= 1 for f in [self.scale_factor, *self.scale_factors.values()]):
            raise ValueError("data checks: scale factors must be > 1")


@dataclasses.dataclass(frozen=True)
class Check:
    """One comparison: fails when `measured` is above (`bound` "max") or below ("min") `threshold`."""

    cls: str
    feature: str
    measured: float
    threshold: float
    bound: str  # "max" or "min"
    what: str  # what was measured, e.g. "missing share (history max 0.42)"

    @property
    def passed(self) -> bool:
        return self.measured <= self.threshold if self.bound == "max" else self.measured >= self.threshold

    @property
    def margin(self) -> float:
        """How far inside the threshold, as a fraction of it (negative: failed)."""
        gap = self.threshold - self.measured if self.bound == "max" else self.measured - self.threshold
        return gap / abs(self.threshold) if self.threshold else gap

    @property
    def sign(self) -> str:
        """How `measured` must relate to `threshold` to pass."""
        return "<=" if self.bound == "max" else ">="

    def describe(self) -> str:
        return f"{self.what}: measured {self.measured:.4g}, threshold {self.sign} {self.threshold:.4g}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "passed": self.passed, "margin": self.margin}


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else 0.0


def _share_check(
    cls: str, feature: str, name: str, value: float, history: list[float], n: int, margin: float, sigmas: float
) -> Check:
    """A share far above the history's maximum: by more than `margin` and than the noise bound."""
    top = max(history)
    threshold = top + max(margin, sigmas * _se(top, n))
    return Check(cls, feature, value, threshold, "max", f"{name} (history max {top:.3g})")


def run_checks(
    profile: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    thresholds: Thresholds,
    period: tuple[float, float] | None = None,
    time_feature: str = "",
    now: float | None = None,
) -> list[Check]:
    """Every check of `profile` (see components.data_checks.profile) against `history`, the
    profiles of the validated spans before it; `period` is the span's [start, end) in Unix seconds."""
    t = thresholds
    rows = int(profile["rows"])
    checks = [Check("volume", DATASET, rows, 1, "min", "rows")]
    if rows == 0:
        return checks  # nothing else is measurable; TFDV too skips an empty split
    # Absolute: a NaN or an infinity in a numeric column is a parse or export fault, whatever the
    # history ("NaN", "inf" and "Infinity" parse as floats, so the schema's FLOAT type admits them:
    # tfx_bsl's csv_decoder._InferValueType tries float(value)). None is allowed unless the dataset
    # spec names the column in nonfinite_allowed.
    for feature, share in sorted(profile.get("nonfinite", {}).items()):
        if feature not in t.nonfinite_allowed:
            example = profile.get("nonfinite_example", {}).get(feature)
            checks.append(
                Check(
                    "finiteness",
                    feature,
                    share,
                    0.0,
                    "max",
                    "non-finite share (NaN or infinity)" + (f", e.g. the row {example}" if example else ""),
                )
            )
    if time_feature and profile.get("time"):
        low, high = profile["time"]
        limit = (now if now is not None else dt.datetime.now(dt.UTC).timestamp()) + 86400
        checks += [
            Check(
                "time", time_feature, low, PLAUSIBLE_MIN_SECONDS, "min", "earliest, Unix seconds (plausible from 2000)"
            ),
            Check("time", time_feature, high, limit, "max", "latest, Unix seconds (plausible until tomorrow)"),
        ]
        if period:
            checks += [
                Check("time", time_feature, low, period[0], "min", "earliest vs the span's period start"),
                Check("time", time_feature, high, period[1] - 1, "max", "latest vs the span's period end"),
            ]
    if not history:
        return checks

    counts = [int(h["rows"]) for h in history]
    checks += [
        Check("volume", DATASET, rows, t.volume_min_ratio * min(counts), "min", f"rows (history min {min(counts)})"),
        Check("volume", DATASET, rows, t.volume_max_ratio * max(counts), "max", f"rows (history max {max(counts)})"),
    ]
    for kind, name in (("missing", "missing share"), ("zeros", "zero share")):
        for feature, value in sorted(profile.get(kind, {}).items()):
            past = [h[kind][feature] for h in history if feature in h.get(kind, {})]
            if past:
                checks.append(
                    _share_check("completeness", feature, name, value, past, rows, t.missing_margin, t.sigmas)
                )
    past_dupes = [h["duplicates"] for h in history if "duplicates" in h]
    if "duplicates" in profile and past_dupes:
        share = profile["duplicates"]
        checks.append(
            _share_check(
                "duplication", DATASET, "duplicate-row share", share, past_dupes, rows, t.duplicate_margin, t.sigmas
            )
        )
    past_rates = [h["label_rate"] for h in history if h.get("label_rate") is not None]
    if profile.get("label_rate") is not None and past_rates:
        mean = statistics.fmean(past_rates)
        shift = abs(profile["label_rate"] - mean)
        limit = max(t.label_max_shift, t.sigmas * _se(mean, rows))
        checks.append(
            Check(
                "label", profile.get("label", "label"), shift, limit, "max", f"|label rate - history mean {mean:.3f}|"
            )
        )
    for feature, deciles in sorted(profile.get("deciles", {}).items()):
        past_deciles = [h["deciles"][feature] for h in history if feature in h.get("deciles", {})]
        factor = scale_factor(deciles, past_deciles)
        if factor is not None:
            limit = t.scale_factors.get(feature, t.scale_factor)
            checks.append(
                Check(
                    "scale", feature, max(factor, 1 / factor), limit, "max", f"decile factor vs history ({factor:.3g}x)"
                )
            )
    return checks


def scale_factor(deciles: Sequence[float], history: Sequence[Sequence[float]]) -> float | None:
    """exp(median_i log(q_i / ref_i)), ref_i the history's median of decile i: by how much the
    feature's scale moved (1.0 = unchanged, 100 = dollars became cents). None when fewer than 5
    deciles are comparable (same sign, non-zero): a mostly-zero feature has no scale to compare."""
    if not history:
        return None
    logs = []
    for i, q in enumerate(deciles):
        ref = statistics.median(h[i] for h in history if len(h) > i)
        if q and ref and (q > 0) == (ref > 0):
            logs.append(math.log(q / ref))
    return math.exp(statistics.median(logs)) if len(logs) >= 5 else None


def span_period(layout: Mapping[str, Any], span: int) -> tuple[float, float] | None:
    """[start, end) in Unix seconds of `span`, from a data root's layout.json record
    (pipelines.data.spans.SpanLayout: first_month YYYY-MM, span_months, timezone). Months begin in
    the layout's zone, as spans are cut. None when the layout does not say."""
    first, months = layout.get("first_month"), int(layout.get("span_months") or 0)
    if not first or months < 1 or span < 1:
        return None
    year, month = (int(x) for x in str(first).split("-"))
    zone = zoneinfo.ZoneInfo(layout.get("timezone") or "UTC")

    def month_start(index: int) -> float:
        return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=zone).timestamp()

    start = year * 12 + month - 1 + (span - 1) * months
    return month_start(start), month_start(start + months)


def label_of(features: Mapping[str, Any], label: Mapping[str, Any]) -> int:
    """The label of one example, with pipelines.data.dataset.LabelSpec.of's rule (0 when an input
    is missing). `features` maps a column to its value (a number, a str, or None when missing);
    `label` is LabelSpec as a dict. Kept here because components may not import pipelines; a test
    checks that both agree on the taxi rows."""
    value = features.get(label["column"])
    if value is None:
        return 0
    if label.get("positive") is not None:
        return int(str(value) == label["positive"])
    try:
        number = float(value)
        threshold = float(label.get("threshold") or 0.0)
        if not label.get("relative_to"):
            return int(number > threshold)
        base = features.get(label["relative_to"])
        return int(base is not None and number > threshold * float(base))
    except ValueError:
        return 0
