"""One HTML page per pipeline node: what a person looks at after a run.

The same page is written by a local run (next to the run's outputs, linked from the summary) and
by a Kubeflow task (as its `view` HTML output artifact, which the KFP UI renders in its
Visualization tab, frontend/src/components/viewers/MetricsVisualizations.tsx:291 at KFP 2.17.0).
TFX alone shows nothing of statistics, anomalies or evaluation in the KFP UI. The first lines say
what happened (passed, blocked, blessed, pushed, and why); the outputs table comes last. Every page
reads offline: plain tables and inline SVG, no script and nothing fetched (TFDV's Facets view,
which loads its scripts from the web, is left out: blank without internet).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tfx.dsl.io import fileio

from components.artifacts import has_prop, int_prop, span_of, str_prop
from components.gate import find_validation_error
from pipelines.names import Node, NodeStatus, title
from pipelines.pipeline.evaluation import SHOWN_METRICS, read_evaluation
from pipelines.reports import slices

Artifact = Any  # an ML Metadata Artifact proto (metadata_store_pb2.Artifact)

_STYLE = (  # also readable in the KFP UI's side panel (about 450 px wide): small type, tables scroll
    "body{font-family:sans-serif;font-size:14px;margin:.8em}h2{font-size:1.3em}h3{font-size:1.1em}"
    ".scroll{overflow-x:auto}table{border-collapse:collapse;margin:.6em 0;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}th{background:#f3f3f3}"
    ".bad{color:#b00020}.good{color:#0a7d28}.warn{color:#8a5a00}code{font-size:90%;word-break:break-all}"
)


class Html(str):
    """Markup this module made itself (an SVG): `table` puts it in a cell unescaped."""


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def _cell(value: object) -> str:
    if isinstance(value, Html):
        return value
    return html.escape(_text(value))


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) > 1 else f"{value:.4f}"
    return str(value)


def page(title: str, sections: list[str]) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h2>{html.escape(title)}</h2>{''.join(sections)}</body></html>"
    )


def node_page(
    node_id: str, status: str, seconds: float, outputs: dict[str, list[Artifact]], error: BaseException | None = None
) -> str:
    """The page of one node: status, the node's own view (statistics, anomalies...), its outputs."""
    klass = "bad" if status == NodeStatus.FAILED else "good"
    sections = [
        f"<p>TFX node <code>{html.escape(node_id)}</code>: <b class='{klass}'>{html.escape(status)}</b> "
        f"in {seconds:.1f} s{_STATUS_MEANS.get(status, '')}</p>"
    ]
    if error is not None:
        sections.append(f"<pre class='bad'>{html.escape(str(error))}</pre>")
    detail = _DETAIL.get(node_id)
    if detail is not None:
        try:
            sections.append(detail(outputs, error))
        except Exception as exc:  # noqa: BLE001 - a view must never fail the node it describes
            sections.append(f"<p class='bad'>view unavailable: {html.escape(repr(exc))}</p>")
    rows = [(key, a.id, a.uri, _props(a)) for key, arts in sorted(outputs.items()) for a in arts]
    if rows:
        sections.append("<h3>outputs</h3>" + table(["output", "artifact id", "uri", "properties"], rows))
    return page(title(node_id), sections)


_STATUS_MEANS: dict[str, str] = {
    NodeStatus.CACHED: " (the same inputs as an earlier run: TFX reused that run's outputs)",
    NodeStatus.RESOLVED: " (selected artifacts from ML Metadata)",
    NodeStatus.SKIPPED: " (not run)",
}


def _props(a: Artifact) -> str:
    names = ("span", "split_names", "blessed", "pushed", "pushed_version", "pushed_destination")
    shown = []
    for name in names:
        if has_prop(a, name):
            value = int_prop(a, name) if name in ("span", "blessed", "pushed") else str_prop(a, name)
            shown.append(f"{name}={value}")
    return ", ".join(shown)


def _examples(outputs, error) -> str:
    """Which span became which splits: a back-fill's ExampleGen has one artifact per span."""
    from tfx.types import artifact_utils

    lines = [
        f"span {span_of(a)} into {', '.join(artifact_utils.decode_split_names(str_prop(a, 'split_names') or '[]'))}"
        for a in outputs.get("examples", [])
    ]
    return f"<p class='good'>Ingested {html.escape('; '.join(lines))}.</p>" if lines else ""


def _schema(outputs, error) -> str:
    """The curated schema the run validates against: one row per feature."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

    arts = outputs.get("schema", [])
    files = [n for n in fileio.listdir(arts[0].uri) if n.endswith(".pbtxt")] if arts else []
    if not files:
        return ""
    schema = tfdv.load_schema_text(os.path.join(arts[0].uri, files[0]))
    rows = [
        (
            f.name,
            schema_pb2.FeatureType.Name(f.type),
            "required" if f.presence.min_fraction >= 1.0 else "optional",
            _domain(f),
        )
        for f in schema.feature
    ]
    return f"<p>The curated schema: {len(rows)} features; every span is validated against it.</p>" + table(
        ["feature", "type", "presence", "domain"], rows
    )


def _domain(feature) -> str:
    """A feature's domain as a person reads it: only the bounds the schema sets."""
    kind = feature.WhichOneof("domain_info")
    if kind in ("int_domain", "float_domain"):
        d = getattr(feature, kind)
        bounds = [f"{op} {getattr(d, side)}" for side, op in (("min", ">="), ("max", "<=")) if d.HasField(side)]
        return " and ".join(bounds)
    if kind == "domain":
        return f"values of {feature.domain}"
    if kind == "string_domain":
        return f"{len(feature.string_domain.value)} values"
    return ""


def _statistics(outputs, error) -> str:
    """Per-split tables with a histogram per numeric feature; a back-fill's StatisticsGen has one
    artifact per span: a section each."""
    stats = outputs.get("statistics", [])
    if len(stats) == 1:
        return _statistics_of(stats[0].uri)
    return "".join(f"<h2>span {span_of(a)}</h2>" + _statistics_of(a.uri) for a in stats)


def _statistics_of(uri: str) -> str:
    import tensorflow_data_validation as tfdv

    splits = sorted(d.rstrip("/") for d in fileio.listdir(uri) if d.startswith("Split-")) if fileio.isdir(uri) else []
    loaded = [tfdv.load_stats_binary(os.path.join(uri, s, "FeatureStats.pb")) for s in splits]
    counts = ", ".join(
        f"{split.removeprefix('Split-')} {int(stats_list.datasets[0].num_examples)}"
        for split, stats_list in zip(splits, loaded, strict=True)
    )
    parts = [f"<p>examples: {html.escape(counts)}</p>"] if counts else []
    parts += [
        f"<h3>{html.escape(split)}: {int(stats_list.datasets[0].num_examples)} examples</h3>"
        + statistics_table(stats_list.datasets[0])
        for split, stats_list in zip(splits, loaded, strict=True)
    ]
    return "".join(parts)


def statistics_table(dataset) -> str:
    """One row per feature of a DatasetFeatureStatistics: plain HTML and inline SVG only."""
    numeric, strings = [], []
    for feature in sorted(dataset.features, key=lambda f: f.path.step[-1] if f.path.step else f.name):
        name = ".".join(feature.path.step) or feature.name
        if feature.HasField("num_stats"):
            n = feature.num_stats
            common = n.common_stats
            numeric.append(
                (
                    name,
                    common.num_non_missing,
                    common.num_missing,
                    n.mean,
                    n.std_dev,
                    n.num_zeros,
                    n.min,
                    n.median,
                    n.max,
                    _histogram_svg(n.histograms),
                )
            )
        elif feature.HasField("string_stats"):
            t = feature.string_stats
            top = ", ".join(f"{v.value} ({v.frequency:.0f})" for v in t.top_values[:3])
            strings.append((name, t.common_stats.num_non_missing, t.common_stats.num_missing, t.unique, top))
    parts = []
    if numeric:
        parts.append(
            table(
                ["numeric feature", "count", "missing", "mean", "std", "zeros", "min", "median", "max", "histogram"],
                numeric,
            )
        )
    if strings:
        parts.append(table(["categorical feature", "count", "missing", "unique", "top values"], strings))
    return "".join(parts)


def _histogram_svg(histograms, width: int = 120, height: int = 24) -> Html:
    """The standard (equal-width) histogram as bars; empty when TFDV computed none."""
    standard = [h for h in histograms if h.type == h.STANDARD]
    if not standard or not standard[0].buckets:
        return Html("")
    counts = [b.sample_count for b in standard[0].buckets]
    top, step = max(counts) or 1.0, width / len(counts)
    bars = "".join(
        f"<rect x='{i * step:.1f}' y='{height - height * c / top:.1f}' width='{max(step - 1, 1):.1f}' "
        f"height='{height * c / top:.1f}'/>"
        for i, c in enumerate(counts)
    )
    return Html(f"<svg width='{width}' height='{height}' fill='#4a78b5'>{bars}</svg>")


def _anomalies(outputs, error) -> str:
    from tfx.types import artifact_utils

    from components.gate import list_anomalies, read_anomalies

    arts = outputs.get("anomalies", [])
    if not arts:
        return ""
    splits = artifact_utils.decode_split_names(str_prop(arts[0], "split_names") or '["train", "eval"]')
    found = list_anomalies(read_anomalies(arts[0].uri, splits))
    if not found:
        return "<p class='good'>No anomalies against the curated schema.</p>"
    return f"<p class='bad'>{len(found)} anomalies: the validation gate stops this run.</p>" + table(
        ["split", "feature", "kind", "description"], [(a.split, a.feature, a.kind, a.description) for a in found]
    )


def _data_checks(outputs, error) -> str:
    """Every span-vs-history check, failed first, then the closest to its threshold."""
    from components.checks import Check
    from components.data_checks import read_results

    arts = outputs.get("results", [])
    if not arts:
        return ""
    results = read_results(arts[0].uri)
    found = sorted(map(Check.from_dict, results["checks"]), key=lambda c: (c.passed, not c.blocks, c.margin))
    failed = [c for c in found if c.blocks]
    warned = [c for c in found if c.warns]
    history = results.get("history_spans", [])
    seasonal = results.get("seasonal_spans", [])
    head = (
        f"<p>span {results['span']}: {results['profile']['rows']} rows; compared with the validated spans "
        f"{', '.join(map(str, history)) or '(none yet: only the absolute checks)'}"
        + (
            f", and where that fails with the same period a year before (span {', '.join(map(str, seasonal))})"
            if seasonal
            else ""
        )
        + ".</p>"
    )
    if failed:
        verdict = f"<p class='bad'>{len(failed)} of {len(found)} checks failed: the validation gate stops this run.</p>"
    else:
        verdict = f"<p class='good'>All {len(found)} checks passed{' or only warn' if warned else ''}.</p>"
    if warned:
        verdict += (
            f"<p class='warn'>{len(warned)} warning(s): failed, but they do not stop the span (the note says why).</p>"
        )
    rows = [
        (
            c.cls,
            c.feature,
            c.what + (f" ({c.note})" if c.note and not c.passed else ""),
            f"{c.measured:.4g}",
            f"{c.threshold:.4g}",
            f"{c.margin:+.0%}",
            "ok" if c.passed else ("FAIL" if c.blocks else c.severity.upper()),
        )
        for c in found
    ]
    return verdict + head + table(["class", "feature", "measured", "value", "threshold", "margin", ""], rows)


def _gate(outputs, error) -> str:
    gate_error = find_validation_error(error)
    if gate_error is None:
        return "<p class='good'>Data passed validation: the span may enter the training window.</p>"
    return f"<p class='bad'>Span {gate_error.span} blocked; Transform, Trainer and Pusher do not run.</p>" + table(
        ["split", "feature", "kind", "description"],
        [(a.split, a.feature, a.kind, a.description) for a in gate_error.anomalies],
    )


def _evaluation(outputs, error) -> str:
    """The decision and why first; then overall metrics and every slice, candidate against
    baseline, with a plot per slicing column."""
    arts = outputs.get("evaluation", [])
    if not arts:
        return ""
    uri = arts[0].uri
    metrics, failures = read_evaluation(uri)
    blessing = outputs.get("blessing", [])
    blessed = bool(blessing and int_prop(blessing[0], "blessed", 0))
    candidate, baseline = metrics.get("candidate", {}), metrics.get("baseline", {})
    if blessed:
        why = "every threshold passed" + (
            f", AUC {_text(candidate.get('auc', '-'))} against the baseline's {_text(baseline['auc'])}"
            if "auc" in baseline
            else "; no baseline: the first model"
        )
    else:
        why = "; ".join(failures) or "thresholds not met"
    parts = [
        f"<p>decision: <b class='{'good' if blessed else 'bad'}'>{'BLESSED' if blessed else 'NOT BLESSED'}</b>"
        f" ({html.escape(why)}).</p>"
    ]
    shown = [n for n in SHOWN_METRICS if n in candidate or n in baseline]
    parts.append(
        table(
            ["metric (overall)", "candidate", "baseline", "change"],
            [
                (n, _maybe(candidate.get(n)), _maybe(baseline.get(n)), _change(candidate.get(f"{n}_diff")))
                for n in shown
            ],
        )
    )
    for column, rows in slices.read_slices(uri).items():
        parts.append(f"<h3>by {html.escape(column)}: AUC per slice</h3>")
        parts.append(
            "<p>blue: candidate, grey: baseline (the latest blessed model trained on another window), "
            "red: candidate below baseline; "
            f"hollow: fewer than {slices.MIN_EXAMPLES} examples, too few for the AUC to mean much.</p>"
            + slices.plot_svg(rows, "auc")
        )
        header = [
            "slice",
            "examples",
            "auc",
            "auc baseline",
            "auc change",
            "accuracy",
            "accuracy baseline",
            "accuracy change",
        ]
        parts.append(
            table(
                header,
                [
                    (
                        f"{r.column}={r.value}",
                        _count(r.candidate.get("example_count")),
                        *(
                            cell
                            for n in ("auc", "binary_accuracy")
                            for cell in (
                                _maybe(r.candidate.get(n)),
                                _maybe(r.baseline.get(n)),
                                _change(r.change.get(n)),
                            )
                        ),
                    )
                    for r in rows
                ],
            )
        )
    return "".join(parts)


def _maybe(value: float | None) -> object:
    return "-" if value is None else value


def _change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _push(outputs, error) -> str:
    arts = outputs.get("pushed_model", [])
    if not arts:
        return ""
    if int_prop(arts[0], "pushed", 0):
        return (
            f"<p class='good'>Pushed version {html.escape(str_prop(arts[0], 'pushed_version'))} to "
            f"<code>{html.escape(str_prop(arts[0], 'pushed_destination'))}</code>.</p>"
        )
    return "<p class='bad'>Not pushed: the model was not blessed; the previous version keeps serving.</p>"


_DETAIL: dict[str, Callable[[Any, Any], str]] = {
    Node.SCHEMA: _schema,
    Node.EXAMPLE_GEN: _examples,
    Node.STATISTICS_GEN: _statistics,
    Node.EXAMPLE_VALIDATOR: _anomalies,
    Node.DATA_CHECKS: _data_checks,
    Node.GATE: _gate,
    Node.EVALUATOR: _evaluation,
    Node.PUSHER: _push,
}


def run_page(config: Any, span: int | None, node_ids: list[str], ir_path: str) -> str:
    """The compile task's page: what this run will do, before any node runs."""
    what = f"span {span}" if span else "the newest span (found by TFX's driver)"
    sections = [
        f"<p>This run ingests <b>{html.escape(what)}</b> from <code>{html.escape(config.data_root)}</code>, "
        f"validates it, and trains on the latest {config.window_spans} validated spans.</p>",
        f"<p>A new model is pushed to <code>{html.escape(config.serving_dir)}</code> only if its AUC is at least "
        f"{config.min_auc}, its accuracy at least {config.min_accuracy}, and its AUC at most "
        f"{config.max_auc_drop} below the baseline's (the latest blessed model trained on another window).</p>",
        table(["TFX node", "what it does"], [(n, title(n)) for n in node_ids]),
        f"<p>TFX IR: <code>{html.escape(ir_path)}</code></p>",
    ]
    return page("Compile TFX IR", sections)


def write_run_view(path: str | Path, config: Any, span: int | None, node_ids: list[str], ir_path: str) -> Path:
    return _write(path, run_page(config, span, node_ids, ir_path))


def write_view(
    path: str | Path,
    node_id: str,
    status: str,
    seconds: float,
    outputs: dict[str, list[Artifact]],
    error: BaseException | None = None,
) -> Path:
    return _write(path, node_page(node_id, status, seconds, outputs, error))


def _write(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
