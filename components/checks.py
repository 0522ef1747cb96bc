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
- Duplicate rows, rows repeating an earlier span's, values above the history's largest and a
  derived label rate are not computed by TFDV at all.
The statistics themselves are TFDV's (StatisticsGen's FeatureStats.pb: counts, missing, zeros,
min/max and the deciles of its QUANTILES histogram); only duplicates and the label rate need a
pass over the rows (components.data_checks).

Every relative threshold is the history's extreme plus a margin that is the larger of an absolute
effect size and a noise bound (`sigmas` standard errors at this span's row count), because spans
of ~200 rows and real trends (the taxi label rate moves from 0.14 to 0.28 over 4 years) break
naive thresholds. With no history (the first span) only the absolute checks run.

A changed world is not a corrupted file (issue 25: a Seattle weather record with 6-month spans
was blocked at span 2 because summer is drier than winter). So a relative check that fails is
judged again against the same period a year before, where the history has it, and passes if the
span is like that period; and while the history covers less than a year (`min_history_months`),
a relative check that fails is a warning, not a block: too little history cannot tell a season
from a fault. What is corrupt whatever the season still blocks: no rows, NaN or infinities,
impossible times, a constant label (the label's input zeroed or missing on every row), and a
growing share of rows whose label input is missing. A categorical label outside its domain is
the curated schema's (ExampleValidator's) to block.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import math
import statistics
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CLASSES = ("volume", "finiteness", "completeness", "duplication", "time", "label", "scale", "tail", "category")
SKETCH_SIZE = 512  # row hashes kept per span (checks.RowSketch): ~9 KB of JSON in its profile
BLOCK, WARN, ACCEPTED = "block", "warn", "accepted"  # what a failed check does to the span
MIN_HISTORY_SPANS = 4  # the history's minimum length when the data root's layout gives no span length
LABEL_CONSTANT_MIN_ROWS = 100  # without history, a constant label in this many rows is a fault
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
    scale_margin: float = 0.3  # with 3+ spans' factors on record: the limit is max(top^2, 1 + this), <= the above
    scale_factors: Mapping[str, float] = dataclasses.field(default_factory=dict)  # per feature
    tail_margin: float = 0.01  # share of values above the history's largest > history max + this
    category_margin: float = 0.1  # a categorical feature's top-value share > history max + this
    sigmas: float = 4.0  # noise bound: this many binomial standard errors at the span's row count
    nonfinite_allowed: Sequence[str] = ()  # numeric columns that may hold NaN or infinities
    min_history_months: int = 12  # a shorter history turns relative checks that fail into warnings

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
        margins = (self.missing_margin, self.duplicate_margin, self.tail_margin, self.category_margin)
        if min(*margins, self.label_max_shift, self.sigmas) < 0:
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
    severity: str = BLOCK  # when failed: BLOCK stops the span, WARN or ACCEPTED (data accept) let it pass
    note: str = ""  # why a failed check does not block

    @property
    def passed(self) -> bool:
        return self.measured <= self.threshold if self.bound == "max" else self.measured >= self.threshold

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == BLOCK

    @property
    def warns(self) -> bool:
        return not self.passed and self.severity != BLOCK

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
        text = f"{self.what}: measured {self.measured:.4g}, threshold {self.sign} {self.threshold:.4g}"
        return f"{text} ({self.note})" if self.note and not self.passed else text

    def line(self) -> str:
        """The check as one line: feature, class, what was measured against what."""
        return f"feature '{self.feature}': {self.cls.upper()}: {self.describe()}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        """From to_dict's JSON; records written before a field existed get its default."""
        fields = dataclasses.fields(cls)
        return cls(**{f.name: data[f.name] for f in fields if f.name in data})

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "passed": self.passed, "margin": self.margin}


ROW_HASH = "openct-row-v2"  # components.row_profile.row_hashes; a sketch of another hash is not compared


@dataclasses.dataclass(frozen=True)
class RowSketch:
    """The SKETCH_SIZE smallest 64-bit hashes of a span's distinct rows (a bottom-k sketch).

    Two spans' sketches both hold every hash of their rows up to the smaller of their limits, so
    the share of one span's rows that the other also has is measured on that common hash range,
    a uniform sample of the rows, without keeping either span's rows (Broder 1997, "On the
    resemblance and containment of documents"). TFDV has nothing comparing rows across spans.
    The hashes are components.row_profile's (ROW_HASH); sketches recorded before it (no "hash"
    key: BLAKE2b of a serialized tf.Example) are not compared with these."""

    hashes: tuple[int, ...]
    size: int = SKETCH_SIZE

    @classmethod
    def of(cls, hashes: Iterable[int], size: int = SKETCH_SIZE) -> RowSketch:
        return cls(tuple(heapq.nsmallest(size, set(hashes))), size)

    def to_dict(self) -> dict[str, Any]:
        """{"limit": every row hash <= limit is in "hashes" (hex)}; limit 2^64-1 when all rows are."""
        limit = self.hashes[-1] if len(self.hashes) >= self.size else 2**64 - 1
        return {"hash": ROW_HASH, "limit": f"{limit:016x}", "hashes": [f"{h:016x}" for h in self.hashes]}


def containment(new: Mapping[str, Any], old: Mapping[str, Any]) -> tuple[float, int]:
    """(share of `new`'s sampled rows that `old` has, rows sampled), from two RowSketch dicts."""
    limit = min(int(new["limit"], 16), int(old["limit"], 16))
    mine = {h for h in new["hashes"] if int(h, 16) <= limit}
    theirs = {h for h in old["hashes"] if int(h, 16) <= limit}
    return (len(mine & theirs) / len(mine) if mine else 0.0), len(mine)


def repeats(profile: Mapping[str, Any], earlier: Sequence[tuple[int, Mapping[str, Any]]]) -> dict[str, Any] | None:
    """The earlier span whose rows this span repeats most (time column aside): {"span", "share",
    "sampled"}; None without sketches of the same row hash to compare."""
    sketch = profile.get("rows_sketch")
    if not sketch:
        return None
    found = [
        (*containment(sketch, p["rows_sketch"]), span)
        for span, p in earlier
        if p.get("rows_sketch", {}).get("hash") == sketch.get("hash")
    ]
    if not found:
        return None
    share, sampled, span = max(found)
    return {"span": span, "share": share, "sampled": sampled}


def tail_bounds(history: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per numeric feature, the largest value of the history's spans (TFDV's max): a span's rows
    above it are counted (components.data_checks.profile_rows) and judged by the tail check."""
    bounds: dict[str, float] = {}
    for h in history:
        for feature, value in h.get("max", {}).items():
            bounds[feature] = max(bounds.get(feature, value), value)
    return bounds


def _se(p: float, n: int) -> float:
    """The binomial standard error of a share `p` measured on `n` rows. A share cannot be told
    from 0 below one row in n, so `p` counts as at least 1/n: at p = 0 the bound would be 0 and a
    single row over a clean history's maximum (one record-rain day in 90: 0.011 > 0.01) blocks."""
    if not n:
        return 0.0
    p = max(p, 1 / n)
    return math.sqrt(max(p * (1 - p), 0.0) / n)


def run_checks(
    profile: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    thresholds: Thresholds,
    period: tuple[float, float] | None = None,
    time_feature: str = "",
    now: float | None = None,
    seasonal: Sequence[Mapping[str, Any]] = (),
    history_months: float | None = None,
    label_inputs: Sequence[str] = (),
) -> list[Check]:
    """Every check of `profile` (see components.data_checks.profile) against `history`, the
    profiles of the validated spans before it; `period` is the span's [start, end) in Unix seconds.

    `seasonal`: the profiles of the same period in earlier years (a relative check that fails
    against `history` passes if it passes against them); `history_months`: how much time the
    validated history covers (None: unknown, then MIN_HISTORY_SPANS spans count as enough);
    `label_inputs`: the label's input columns, whose missing share blocks even with a short history.
    """
    t = thresholds
    checks = _absolute_checks(profile, history, t, period, time_feature, now)
    if not history or not profile["rows"]:
        return checks
    short = history_months < t.min_history_months if history_months is not None else len(history) < MIN_HISTORY_SPANS
    covered = f"{history_months:g} months" if history_months is not None else f"{len(history)} span(s)"
    inputs = set(label_inputs)
    # the seasonal comparison keeps the history's limits (a scale limit narrowed by the factors on record)
    year_before = "same period a year before"
    same_period = dict(_relative_checks(profile, seasonal, t, year_before, inputs, history)) if seasonal else {}
    for key, check in _relative_checks(profile, history, t, "history", inputs, history):
        again = same_period.get(key)
        if check.passed:
            checks.append(check)
        elif again is not None and again.passed:
            checks.append(again)  # the season, not the file, changed
        elif key == ("label",) and not short and (seen := _label_range_check(profile, [*history, *seasonal], t)).passed:
            checks.append(seen)  # far from the mean, but at a level a span of the last year(s) had
        elif short and key[:2] != ("missing", True):
            note = f"a warning: the history covers {covered}, less than the {t.min_history_months} months it needs"
            checks.append(dataclasses.replace(check, severity=WARN, note=note))
        else:
            checks.append(check)
    return checks


def _absolute_checks(
    profile: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    t: Thresholds,
    period: tuple[float, float] | None,
    time_feature: str,
    now: float | None,
) -> list[Check]:
    """What is a fault whatever the history and the season: no rows, NaN, impossible times, a
    constant label."""
    rows = int(profile["rows"])
    checks = [Check("volume", DATASET, rows, 1, "min", "rows")]
    if rows == 0:
        return checks  # nothing else is measurable; TFDV too skips an empty split
    # A NaN or an infinity in a numeric column is a parse or export fault, whatever the
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
    if profile.get("repeats"):
        # An earlier span's rows delivered again (an export re-run with new timestamps): a fault
        # whatever the season. Clean spans repeat few rows (identical trips or days do happen):
        # the history's own repeat shares set the level.
        found = profile["repeats"]
        past_shares = [h["repeats"]["share"] for h in history if h.get("repeats")]
        top = max(past_shares, default=0.0)
        threshold = top + max(t.duplicate_margin, t.sigmas * _se(top, found["sampled"]))
        what = f"share of rows repeating span {found['span']}'s, time aside (history max {top:.3g})"
        checks.append(Check("duplication", DATASET, found["share"], threshold, "max", what))
    rate = profile.get("label_rate")
    past = [h["label_rate"] for h in history if h.get("label_rate") is not None]
    if rate is not None:
        # A label with one class in every row cannot be learned: its input was zeroed, dropped or
        # renamed. Judged only where a constant label is improbable: without history in
        # LABEL_CONSTANT_MIN_ROWS rows; with it, where the rarer class is expected `sigmas`^2 times
        # (a Poisson count with that mean is 0 with probability e^-16 at the default 4 sigmas).
        mean = statistics.fmean(past) if past else None
        expected = rows * min(mean, 1 - mean) if mean is not None else None
        if (expected is None and rows >= LABEL_CONSTANT_MIN_ROWS) or (expected or 0) >= t.sigmas**2:
            where = f"{expected:.0f} expected from the history" if expected is not None else "no history yet"
            checks.append(
                Check(
                    "label",
                    profile.get("label", "label"),
                    round(min(rate, 1 - rate) * rows),
                    1,
                    "min",
                    f"rows of the rarer label class ({where}; a constant label cannot be learned)",
                )
            )
    return checks


def _label_range_check(profile: Mapping[str, Any], history: Sequence[Mapping[str, Any]], t: Thresholds) -> Check:
    """The label rate's distance from the range of the history's rates. With seasons the mean of
    a year's spans is no span's rate: Seattle's rainy-day share was 0.11 in the third quarter of
    2012, 0.25 in 2013's and 0.69 in winter quarters, so a wet summer failed both the mean (0.485)
    and last summer's rate. A history covering a year has seen its seasons; a rate within its
    range (plus the usual limit) is a changed world, while a flipped or emptied label is not."""
    rates = [h["label_rate"] for h in history if h.get("label_rate") is not None]
    low, high = min(rates), max(rates)
    rate, rows = profile["label_rate"], int(profile["rows"])
    nearest = min(max(rate, low), high)
    limit = max(t.label_max_shift, t.sigmas * _se(nearest, rows))
    what = f"label rate's distance from the history's range [{low:.3f}, {high:.3f}], seasons included"
    return Check("label", profile.get("label", "label"), max(low - rate, rate - high, 0.0), limit, "max", what)


def _relative_checks(
    profile: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    t: Thresholds,
    ref: str,
    label_inputs: set[str],
    recorded: Sequence[Mapping[str, Any]],
) -> list[tuple[tuple[Any, ...], Check]]:
    """The span against `history` (named `ref` in the checks' text), each with a key that names
    the same comparison against another history; a key ("missing", True, feature) marks a missing
    share of a label input. Scale limits come from the factors `recorded` on the recent history."""
    rows = int(profile["rows"])
    found: list[tuple[tuple[Any, ...], Check]] = []
    counts = [int(h["rows"]) for h in history]
    found += [
        (
            ("volume", "min"),
            Check("volume", DATASET, rows, t.volume_min_ratio * min(counts), "min", f"rows ({ref} min {min(counts)})"),
        ),
        (
            ("volume", "max"),
            Check("volume", DATASET, rows, t.volume_max_ratio * max(counts), "max", f"rows ({ref} max {max(counts)})"),
        ),
    ]
    for kind, name in (("missing", "missing share"), ("zeros", "zero share")):
        for feature, value in sorted(profile.get(kind, {}).items()):
            past = [h[kind][feature] for h in history if feature in h.get(kind, {})]
            if past:
                top = max(past)
                threshold = top + max(t.missing_margin, t.sigmas * _se(top, rows))
                check = Check("completeness", feature, value, threshold, "max", f"{name} ({ref} max {top:.3g})")
                found.append(((kind, kind == "missing" and feature in label_inputs, feature), check))
    past_dupes = [h["duplicates"] for h in history if "duplicates" in h]
    if "duplicates" in profile and past_dupes:
        top = max(past_dupes)
        threshold = top + max(t.duplicate_margin, t.sigmas * _se(top, rows))
        what = f"duplicate-row share ({ref} max {top:.3g})"
        found.append((("duplicates",), Check("duplication", DATASET, profile["duplicates"], threshold, "max", what)))
    past_rates = [h["label_rate"] for h in history if h.get("label_rate") is not None]
    if profile.get("label_rate") is not None and past_rates:
        mean = statistics.fmean(past_rates)
        shift = abs(profile["label_rate"] - mean)
        limit = max(t.label_max_shift, t.sigmas * _se(mean, rows))
        label = profile.get("label", "label")
        found.append((("label",), Check("label", label, shift, limit, "max", f"|label rate - {ref} mean {mean:.3f}|")))
    for feature, share in sorted(profile.get("dominant", {}).items()):
        past = [h["dominant"][feature] for h in history if feature in h.get("dominant", {})]
        if past:
            top = max(past)
            threshold = top + max(t.category_margin, t.sigmas * _se(top, rows))
            what = f"share of its most frequent value ({ref} max {top:.3g})"
            found.append((("category", feature), Check("category", feature, share, threshold, "max", what)))
    for feature, beyond in sorted(profile.get("beyond", {}).items()):
        past = [h["beyond"][feature]["share"] for h in history if feature in h.get("beyond", {})]
        top = max(past, default=0.0)
        threshold = top + max(t.tail_margin, t.sigmas * _se(top, rows))
        what = f"share of values above {beyond['bound']:.4g}, the history's largest ({ref} max {top:.3g})"
        found.append((("tail", feature), Check("tail", feature, beyond["share"], threshold, "max", what)))
    for feature, deciles in sorted(profile.get("deciles", {}).items()):
        past_deciles = [h["deciles"][feature] for h in history if feature in h.get("deciles", {})]
        factor = scale_factor(deciles, past_deciles)
        if factor is not None:
            limit = scale_limit(feature, [h["scale"][feature] for h in recorded if feature in h.get("scale", {})], t)
            what = f"decile factor vs {ref} ({factor:.3g}x)"
            found.append((("scale", feature), Check("scale", feature, max(factor, 1 / factor), limit, "max", what)))
    return found


def accept(checks: Sequence[Check], accepted: Mapping[tuple[str, str], str]) -> list[Check]:
    """`checks` with each blocking one whose (class, feature) a person accepted for this span
    (`openct data accept`: the key -> who, when and why) turned into an ACCEPTED warning."""
    return [
        dataclasses.replace(c, severity=ACCEPTED, note=accepted[(c.cls, c.feature)])
        if c.blocks and (c.cls, c.feature) in accepted
        else c
        for c in checks
    ]


def scale_factors(profile: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Each feature's scale_factor against `history`, where it has one."""
    found = {}
    for feature, deciles in profile.get("deciles", {}).items():
        factor = scale_factor(deciles, [h["deciles"][feature] for h in history if feature in h.get("deciles", {})])
        if factor is not None:
            found[feature] = factor
    return found


def scale_limit(feature: str, recorded: Sequence[float], t: Thresholds) -> float:
    """The scale check's limit for `feature`: the spec's factor for it, or the default; tighter
    once 3 spans have recorded their own factor (each span's against its history): the largest
    of those squared (in log terms, the history's extreme plus itself), at least 1 + scale_margin.
    On the 16 taxi spans fare moved by at most x1.10 and trip_miles by x1.79, so a fixed x3 let
    kilometres for miles (x1.61) through while trip_miles needed it."""
    fixed = t.scale_factors.get(feature, t.scale_factor)
    if feature in t.scale_factors or len(recorded) < 3:
        return fixed
    top = max(max(f, 1 / f) for f in recorded)
    return min(fixed, max(top * top, 1 + t.scale_margin))


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
