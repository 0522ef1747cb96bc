"""Per-slice evaluation for the Evaluator's page: candidate, baseline and change for every slice.

The Evaluator is where a person asks "did the new model get worse for some group", so each slice
shows both models and the change, in the slice's own order (hour 0, 1, 2, ... 23), with a plot.
TFMA writes, per slice, one metric key per model (`model_name` "candidate" or "baseline") and, when
there is a baseline, a third key per metric with `is_diff` set and `model_name` "candidate"
(tensorflow_model_analysis/metrics/metric_types.py, MetricKey.make_diff_key): a reader that keys
on the model name alone takes the change for the candidate's value.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable
from typing import Any

from pipelines.pipeline.evaluation import metric_value

SliceValue = int | float | str


@dataclasses.dataclass(frozen=True)
class SliceMetrics:
    """One slice (e.g. trip_start_hour=0) of one slicing column: metrics per model and the change."""

    column: str
    value: SliceValue
    candidate: dict[str, float]
    baseline: dict[str, float]
    change: dict[str, float]  # candidate - baseline, as TFMA computed it


def slice_value(key: Any) -> SliceValue:
    """A SingleSliceKey's value as its own type: the integer 0 stays 0 (not falsy, not '0.0')."""
    kind = key.WhichOneof("kind")
    if kind is None:
        return ""
    value = getattr(key, kind)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _sort_key(row: SliceMetrics) -> tuple[str, int, float, str]:
    """By column, then numbers in numeric order before text (2 before 10)."""
    if isinstance(row.value, (int, float)):
        return row.column, 0, float(row.value), ""
    return row.column, 1, 0.0, row.value


def from_metrics(metrics_for_slices: Iterable[Any]) -> dict[str, list[SliceMetrics]]:
    """Slicing column -> its slices in order, from TFMA MetricsForSlice protos (the overall slice
    and crossed slices are left out: the overall slice has its own table)."""
    rows: list[SliceMetrics] = []
    for per_slice in metrics_for_slices:
        keys = per_slice.slice_key.single_slice_keys
        if len(keys) != 1:
            continue
        row = SliceMetrics(keys[0].column, slice_value(keys[0]), {}, {}, {})
        for kv in per_slice.metric_keys_and_values:
            number = metric_value(kv.value)
            if number is None:
                continue
            if kv.key.is_diff:
                row.change[kv.key.name] = number
            elif kv.key.model_name == "baseline":
                row.baseline[kv.key.name] = number
            else:  # "candidate", or "" when the Evaluator had one model
                row.candidate[kv.key.name] = number
        rows.append(row)
    columns: dict[str, list[SliceMetrics]] = {}
    for row in sorted(rows, key=_sort_key):
        columns.setdefault(row.column, []).append(row)
    return columns


def read_slices(uri: str) -> dict[str, list[SliceMetrics]]:
    """The Evaluator output at `uri`, per slicing column."""
    import tensorflow_model_analysis as tfma

    return from_metrics(tfma.load_metrics(uri))


# Below this many examples a slice's AUC is mostly noise (with 1 or 2 examples it is 0 or 1, and
# 0 when the slice holds one class only): such a slice is drawn hollow and never flagged.
MIN_EXAMPLES = 20


def plot_svg(rows: list[SliceMetrics], metric: str, width_per_slice: int = 18, height: int = 150) -> str:
    """`metric` per slice as dots: the candidate blue (red where it is below the baseline), the
    baseline grey, joined per slice by a line, hollow where the slice has fewer than MIN_EXAMPLES
    examples; axis labels are the slice values. Inline SVG, no script: it reads offline and
    inside the KFP UI's sandboxed frame."""
    points = [(r, r.candidate.get(metric), r.baseline.get(metric)) for r in rows]
    values = [v for _, c, b in points for v in (c, b) if v is not None]
    if not values:
        return ""
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or 0.05
    low, high = low - pad, high + pad
    left, bottom, top = 44, 22, 8
    width = left + width_per_slice * len(points) + 8

    def y(v: float) -> float:
        return top + (height - top - bottom) * (high - v) / (high - low)

    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-size='10' "
        f"font-family='sans-serif' role='img' aria-label='{html.escape(metric)} per slice'>",
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' stroke='#999'/>",
        f"<text x='{left - 4}' y='{y(high - pad) + 3:.1f}' text-anchor='end'>{high - pad:.3f}</text>",
        f"<text x='{left - 4}' y='{y(low + pad) + 3:.1f}' text-anchor='end'>{low + pad:.3f}</text>",
    ]
    for i, (row, candidate, baseline) in enumerate(points):
        x = left + width_per_slice * (i + 0.5)
        if candidate is not None and baseline is not None:
            parts.append(
                f"<line x1='{x:.1f}' y1='{y(baseline):.1f}' x2='{x:.1f}' y2='{y(candidate):.1f}' stroke='#bbb'/>"
            )
        few = row.candidate.get("example_count", 0.0) < MIN_EXAMPLES
        if baseline is not None:
            paint = "fill='none' stroke='#999'" if few else "fill='#999'"
            parts.append(f"<circle cx='{x:.1f}' cy='{y(baseline):.1f}' r='3' {paint}/>")
        if candidate is not None:
            color = "#b00020" if baseline is not None and candidate < baseline and not few else "#1f5fbf"
            paint = f"fill='none' stroke='{color}'" if few else f"fill='{color}'"
            parts.append(
                f"<circle cx='{x:.1f}' cy='{y(candidate):.1f}' r='3.5' {paint}>"
                f"<title>{html.escape(f'{row.column}={row.value}')}: {candidate:.4f}"
                + (f" (baseline {baseline:.4f})" if baseline is not None else "")
                + "</title></circle>"
            )
        parts.append(f"<text x='{x:.1f}' y='{height - 8}' text-anchor='middle'>{html.escape(str(row.value))}</text>")
    parts.append("</svg>")
    return "".join(parts)
