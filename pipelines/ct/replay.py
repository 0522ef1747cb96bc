"""Replay: the dataset's spans arrive one at a time, in time order, each followed by `openct ct trigger`.

The proof that continuous training runs by itself: every arrival is one trigger decision (new
span, drift, degradation), and a run when it says so. At known points, one arriving span is
corrupted (a string in a numeric column: the gate must block it and the serving model must stay)
and one is strongly drifted (every trip paid in cash: the drift check must report it). The
replay starts from an empty store in its own directory and writes a timeline: CSV, Markdown and
a PNG plot (the serving model's AUC on each arriving span, the drift score, pushes and blocks).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from pipelines import lineage, serving
from pipelines.config import PipelineConfig
from pipelines.ct import triggers
from pipelines.data.spans import cut_dataset_spans, plan_spans, span_months_of, span_path
from pipelines.names import Outcome


@dataclasses.dataclass
class Arrival:
    span: int
    injected: str  # "", "corrupted" or "drifted"
    started: bool
    trigger: str
    outcome: str  # the run's outcome (lineage), or "no run"
    serving_version: int | None  # after the arrival
    serving_auc: float | None  # the serving model's AUC on this span, before any retraining
    drift_score: float | None  # max value/threshold of the drift comparators; > 1 is drift
    drifted: str
    seconds: float


def corrupt(path: Path, column: str = "fare") -> None:
    """A string in a numeric column of every tenth row (what a broken export looks like)."""
    _rewrite(path, lambda i, row, idx: row.__setitem__(idx[column], "twelve dollars") if i % 10 == 0 else None)


def drift_payments(path: Path, column: str = "payment_type", value: str = "Cash") -> None:
    """Every trip paid with one method: valid values, a very different distribution."""
    _rewrite(path, lambda i, row, idx: row.__setitem__(idx[column], value))


def _rewrite(path: Path, change: Callable[[int, list[str], dict[str, int]], None]) -> None:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    index = {name: i for i, name in enumerate(rows[0])}
    for i, row in enumerate(rows[1:]):
        change(i, row, index)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    tmp.replace(path)


def replay(
    config: PipelineConfig,
    corrupt_at: int | None,
    drift_at: int | None,
    upto: int | None = None,
    report: Callable[[str], None] = print,
    run: Callable[..., object] | None = None,
) -> list[Arrival]:
    """Replays the spans of `config`'s dataset into config.data_root (which must be empty)."""
    from pipelines.runners.local import run_local

    run = run or run_local
    spec = config.spec
    if any(Path(config.data_root).glob("span-*")) or Path(config.metadata).exists():
        raise FileExistsError(f"replay needs an empty data root and store: {config.data_root}, {config.metadata}")
    months = span_months_of(config.data_root, config.span_months)
    _, planned, _ = plan_spans(spec.source_path(), spec.timestamp_column, months, spec.time_format, spec.timezone)
    last = min(max(planned), upto) if upto else max(planned)
    timeline = []
    for span in range(1, last + 1):
        cut_dataset_spans(spec, config.data_root, months, upto=span)
        injected = "corrupted" if span == corrupt_at else "drifted" if span == drift_at else ""
        path = span_path(config.data_root, span)
        if injected == "corrupted":
            corrupt(path)
        elif injected == "drifted":
            drift_payments(path)
        started = time.monotonic()
        decision = triggers.decide(config)
        report(f"replay: span {span}{f' ({injected})' if injected else ''}: {decision.reason}")
        outcome, why = "no run", ""
        if decision.start:
            summary = run(config, trigger=decision.trigger)
            with lineage.open_store(config.metadata) as store:
                outcome = lineage.runs(store, config.pipeline_name)[-1].outcome
            why = "; ".join(getattr(summary, "anomalies", None) or []) or getattr(summary, "reason", "")
        timeline.append(
            Arrival(
                span,
                injected,
                decision.start,
                decision.trigger,
                outcome,
                serving.served_version(config.serving_dir, config.served_model_name),
                decision.quality.auc if decision.quality else None,
                decision.drift.score if decision.drift else None,
                "; ".join(decision.drift.drifted) if decision.drift else "",
                round(time.monotonic() - started, 1),
            )
        )
        report(
            f"replay: span {span}: {outcome}{f' ({why})' if why and not outcome.startswith(Outcome.PUSHED) else ''} "
            f"in {timeline[-1].seconds:.0f} s; serving "
            f"{'v' + str(timeline[-1].serving_version) if timeline[-1].serving_version else 'nothing'}"
        )
    return timeline


def check_margins(results: dict[int, dict], spans: set[int] | None = None) -> str:
    """Markdown: per data check class, the span that came closest to its threshold (or failed),
    over `spans` (default: all). The false-alarm evidence of a clean replay."""
    from components.checks import CLASSES, Check

    worst: dict[str, tuple[int, Check]] = {}
    counts: dict[str, int] = {}
    for span, result in sorted(results.items()):
        if spans is not None and span not in spans:
            continue
        for check in map(Check.from_dict, result["checks"]):
            if check.cls in ("completeness", "duplication") and check.threshold >= 1:
                continue  # a share cannot exceed 1: this check cannot fail (an always-empty column)
            counts[check.cls] = counts.get(check.cls, 0) + 1
            if check.cls not in worst or check.margin < worst[check.cls][1].margin:
                worst[check.cls] = (span, check)
    lines = [
        "| class | checks | worst span | feature | measured | value | threshold | distance | margin |",
        "|" + "---|" * 9,
    ]
    for cls in CLASSES:
        if cls in worst:
            span, c = worst[cls]
            lines.append(
                f"| {cls} | {counts[cls]} | {span} | {c.feature} | {c.what} | {c.measured:.4g} | "
                f"{c.sign} {c.threshold:.4g} | {abs(c.threshold - c.measured):.4g} | {c.margin:+.0%} |"
            )
    return "\n".join(lines) + "\n"


def write_timeline(
    timeline: list[Arrival], out: Path, config: PipelineConfig, checks: dict[int, dict] | None = None
) -> list[Path]:
    """timeline.csv, timeline.md, timeline.png and (given the data check results) checks.md under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    fields = [f.name for f in dataclasses.fields(Arrival)]
    with open(out / "timeline.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(fields)
        writer.writerows([getattr(a, n) for n in fields] for a in timeline)
    header = "| span | injected | trigger | outcome | serving after | serving AUC on span | drift score | seconds |"
    lines = [header, "|" + "---|" * 8]
    for a in timeline:
        lines.append(
            f"| {a.span} | {a.injected or '-'} | {a.trigger or '(none)'} | {a.outcome} | "
            f"{'v' + str(a.serving_version) if a.serving_version else '-'} | "
            f"{'-' if a.serving_auc is None else f'{a.serving_auc:.3f}'} | "
            f"{'-' if a.drift_score is None else f'{a.drift_score:.2f}'} | {a.seconds:.0f} |"
        )
    (out / "timeline.md").write_text("\n".join(lines) + "\n")
    plot(timeline, out / "timeline.png", config)
    files = [out / "timeline.csv", out / "timeline.md", out / "timeline.png"]
    if checks is not None:
        clean = {a.span for a in timeline if not a.injected}
        blocked = [a.span for a in timeline if not a.injected and a.outcome == Outcome.BLOCKED]
        (out / "checks.md").write_text(
            f"Clean spans blocked at the gate: {len(blocked)}{f' ({blocked})' if blocked else ''} of {len(clean)}.\n"
            "Per data check class, the clean span closest to its threshold (distance: to the threshold, in "
            "the value's unit; margin: the distance as a share of the threshold; checks that cannot fail, "
            "such as the missing share of an always-empty column, are left out):\n\n" + check_margins(checks, clean)
        )
        files.append(out / "checks.md")
    return files


def plot(timeline: list[Arrival], path: Path, config: PipelineConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    spans = [a.span for a in timeline]
    fig, auc_ax = plt.subplots(figsize=(10, 4.5))
    drift_ax = auc_ax.twinx()
    drift_ax.bar(spans, [a.drift_score or 0 for a in timeline], color="#9ecae1", alpha=0.6, label="drift score")
    drift_ax.axhline(1.0, color="#3182bd", linestyle=":", linewidth=1, label="drift threshold")
    drift_ax.set_ylabel("drift score (max value / threshold)")
    with_auc = [a for a in timeline if a.serving_auc is not None]
    auc_ax.plot(
        [a.span for a in with_auc],
        [a.serving_auc for a in with_auc],
        "o-",
        color="black",
        label="serving model AUC on the arriving span",
    )
    auc_ax.axhline(config.min_auc, color="grey", linestyle="--", linewidth=1, label=f"min AUC {config.min_auc}")
    for a in timeline:
        if a.outcome.startswith(Outcome.PUSHED):
            auc_ax.axvline(a.span, color="green", alpha=0.4)
            auc_ax.annotate(a.outcome.split()[-1], (a.span, 1.0), color="green", ha="center", va="bottom", fontsize=8)
        elif a.outcome == Outcome.BLOCKED:
            auc_ax.plot([a.span], [0.98], "x", color="red", markersize=10, label="blocked at the gate")
        if a.injected:
            auc_ax.annotate(a.injected, (a.span + 0.25, 0.6), color="red", ha="left", fontsize=8, rotation=90)
    auc_ax.set_zorder(drift_ax.get_zorder() + 1)
    auc_ax.patch.set_visible(False)
    auc_ax.set_ylim(0.5, 1.02)
    auc_ax.set_xlabel("arriving span (green: a new version pushed)")
    auc_ax.set_ylabel("AUC")
    auc_ax.set_xticks(spans)
    handles = auc_ax.get_legend_handles_labels()[0] + drift_ax.get_legend_handles_labels()[0]
    labels = auc_ax.get_legend_handles_labels()[1] + drift_ax.get_legend_handles_labels()[1]
    unique = dict(zip(labels, handles, strict=True))
    auc_ax.legend(unique.values(), unique.keys(), loc="lower left", fontsize=8)
    auc_ax.set_title(f"openct ct replay: {config.spec.name}, window {config.window_spans} spans")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
