"""DataChecks: judge a new span against the validated spans before it (checks in components.checks).

Between ExampleValidator (the span against the curated schema) and the ValidationGate: it
profiles the span from StatisticsGen's statistics (TFDV's counts, missing and zero counts,
min/max, deciles) plus one pass over its Examples for what TFDV does not compute (duplicate rows,
the derived label rate: components.row_profile, on Arrow batches), compares the profile with the
profiles recorded on the `ValidatedSpan` records of the window before it, and writes every check
(passed or not, with the measured value and the threshold) to `checks.json`. The gate fails on any
failed check, as on a schema anomaly, and copies the profile onto the span's ValidatedSpan
record: the history of later spans, read from ML Metadata without re-reading data.
"""

# No `from __future__ import annotations` here: @component reads the real annotations.
import json
import os
from typing import Any, List  # noqa: UP035 - TFX's annotation parser wants typing.List

from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact, artifact_utils, standard_artifact_utils, standard_artifacts

from components import checks as checks_lib
from components import row_profile
from components.artifacts import span_of, str_prop
from components.checks import LAYOUT_FILE

RESULTS_FILE = "checks.json"
BLOCKING = "blocking"  # DataCheckResults: JSON [[class, feature], ...] of the checks that block
FINGERPRINT = "input_fingerprint"  # ExampleGen's record of the span file (tfx example_gen utils)
PROFILE = "profile"  # the ValidatedSpan custom property holding the span's profile (JSON)


class ValidatedSpan(artifact.Artifact):
    """Record that one Examples artifact (one span) passed data validation, with its profile."""

    TYPE_NAME = "openct.ValidatedSpan"


class SpanAcceptance(artifact.Artifact):
    """A person's recorded decision that a span's failed data checks are a real change, not a
    fault (`openct data accept`): custom properties span, input_fingerprint (the span file it was
    judged on: a changed file is judged afresh), checks (JSON [[class, feature], ...]), by, reason."""

    TYPE_NAME = "openct.SpanAcceptance"


class DataCheckResults(artifact.Artifact):
    """checks.json: the span's profile and every span-vs-history check."""

    TYPE_NAME = "openct.DataCheckResults"


def _feature_name(feature: Any) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def profile_from_statistics(by_split: dict[str, Any], scale_features: list[str], time_feature: str) -> dict[str, Any]:
    """rows; per feature the missing share; the zero share and the deciles of `scale_features`
    (QUANTILES histogram, averaged over splits by their counts); min/max of `time_feature`."""
    rows = 0
    missing: dict[str, int] = {}
    zeros: dict[str, int] = {}
    deciles: dict[str, list[tuple[int, list[float]]]] = {}
    maxima: dict[str, float] = {}
    top_counts: dict[str, dict[str, float]] = {}  # categorical feature -> value -> rows
    present: dict[str, int] = {}
    times: list[float] = []
    for stats_list in by_split.values():
        if not stats_list.datasets:
            continue
        dataset = stats_list.datasets[0]
        rows += dataset.num_examples
        for feature in dataset.features:
            name = _feature_name(feature)
            kind = feature.WhichOneof("stats")
            if kind is None:
                continue
            common = getattr(feature, kind).common_stats
            missing[name] = missing.get(name, 0) + common.num_missing + _empty_values(common)
            if kind == "string_stats" and feature.string_stats.top_values:
                counts = top_counts.setdefault(name, {})
                for top in feature.string_stats.top_values:
                    counts[top.value] = counts.get(top.value, 0.0) + top.frequency
                present[name] = present.get(name, 0) + common.tot_num_values  # values, empty cells aside
            if kind != "num_stats":
                continue
            num = feature.num_stats
            if name == time_feature and common.num_non_missing:
                times += [num.min, num.max]
            if name not in scale_features:  # zeros and deciles of measurements, not of categories (hour 0)
                continue
            zeros[name] = zeros.get(name, 0) + num.num_zeros
            if common.num_non_missing:
                maxima[name] = max(maxima.get(name, num.max), num.max)
                for histogram in num.histograms:
                    if histogram.type == statistics_pb2.Histogram.QUANTILES and len(histogram.buckets) >= 2:
                        lows = [b.low_value for b in histogram.buckets[1:]]
                        deciles.setdefault(name, []).append((common.num_non_missing, lows))
    return {
        "rows": rows,
        "missing": {k: v / rows for k, v in missing.items()} if rows else {},
        "zeros": {k: v / rows for k, v in zeros.items()} if rows else {},
        "deciles": {
            k: [sum(n * q[i] for n, q in v) / sum(n for n, _ in v) for i in range(len(v[0][1]))]
            for k, v in deciles.items()
        },
        "time": [min(times), max(times)] if times else None,
        "max": maxima,
        # the share of a categorical feature's most frequent value among rows that have one (TFDV's
        # top_values, pooled over splits): 1.0 when the feature collapsed to one value
        "dominant": {k: max(v.values()) / present[k] for k, v in top_counts.items() if present.get(k)},
    }


def _empty_values(common: Any) -> int:
    """Rows where the feature is present with no value. CsvExampleGen turns an empty CSV cell into
    a feature with an empty value list, which TFDV counts as non-missing (measured: a span with 381
    of 407 `company` cells empty had num_missing 0, num_non_missing 254, tot_num_values 19 in its
    train split). For a single-valued column every other present row has exactly one value."""
    if common.max_num_values > 1:
        return 0
    return int(common.num_non_missing - common.tot_num_values)


def acceptances(records: list[Any], span: int, fingerprint: str) -> dict[tuple[str, str], str]:
    """(class, feature) -> "accepted by WHO on DATE: WHY", from the SpanAcceptance records of
    `span` made on the same span file (same input fingerprint)."""
    accepted: dict[tuple[str, str], str] = {}
    for record in sorted(records, key=lambda a: a.id):
        if span_of(record) != span or str_prop(record, FINGERPRINT) != fingerprint:
            continue
        note = f"accepted by {str_prop(record, 'by')} on {str_prop(record, 'date')}: {str_prop(record, 'reason')}"
        for cls, feature in json.loads(str_prop(record, "checks") or "[]"):
            accepted[(cls, feature)] = note
    return accepted


def split_history(
    span: int, history: list[tuple[int, dict[str, Any]]], layout: dict[str, Any], settings: dict[str, Any]
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, dict[str, Any]]], float | None]:
    """(recent, seasonal, months) of the validated spans before `span`, oldest first:
    `recent` the latest `recent_spans` (the training window's length: the history the thresholds
    were measured with), `seasonal` those a whole number of years before `span` (when the
    layout's span length divides a year), `months` how much time all of them cover (None when the
    layout does not say how long a span is)."""
    span_months = int(layout.get("span_months") or 0)
    recent = history[-int(settings.get("recent_spans") or len(history) or 1) :]
    per_year = 12 // span_months if span_months and 12 % span_months == 0 else 0
    seasonal = [(s, p) for s, p in history if per_year and (span - s) % per_year == 0]
    return recent, seasonal, len(history) * span_months if span_months else None


def read_statistics(uri: str, splits: list[str]) -> dict[str, Any]:
    by_split = {}
    for split in splits:
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with fileio.open(os.path.join(uri, f"Split-{split}", "FeatureStats.pb"), "rb") as f:
            stats.ParseFromString(f.read())
        by_split[split] = stats
    return by_split


def read_layout(data_root: str) -> dict[str, Any]:
    path = os.path.join(data_root, LAYOUT_FILE)
    if not data_root or not fileio.exists(path):
        return {}
    with fileio.open(path, "r") as f:
        return json.loads(f.read())


def read_results(uri: str) -> dict[str, Any]:
    with fileio.open(os.path.join(uri, RESULTS_FILE), "r") as f:
        return json.loads(f.read())


@component
def DataChecks(  # noqa: N802 - TFX components are classes by convention
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    results: OutputArtifact[DataCheckResults],
    config: Parameter[str],
    history: InputArtifact[List[ValidatedSpan]] = None,  # noqa: UP006
    accepted: InputArtifact[List[SpanAcceptance]] = None,  # noqa: UP006
) -> None:
    """Profiles `examples` and checks the profile against `history` (the validated spans before it);
    a failed check that `accepted` (this span's acceptances) names does not block.

    `config` (JSON, built by pipelines.pipeline.dag from the dataset spec): thresholds, label,
    scale_features, time_column, data_root (for the span's period in layout.json).
    """
    settings = json.loads(config)
    span = span_of(examples)
    splits = artifact_utils.decode_split_names(statistics.split_names)
    profile = profile_from_statistics(
        read_statistics(statistics.uri, splits), settings["scale_features"], settings["time_column"]
    )
    profiled = sorted((h for h in history or [] if str_prop(h, PROFILE)), key=span_of)  # older records have none
    layout = read_layout(settings.get("data_root", ""))
    earlier = [(span_of(h), json.loads(str_prop(h, PROFILE))) for h in profiled]
    recent, seasonal, months = split_history(span, earlier, layout, settings)
    bounds = checks_lib.tail_bounds([p for _, p in [*recent, *seasonal]])
    files = {
        split: row_profile.split_files(standard_artifact_utils.get_split_uri([examples], split))
        for split in artifact_utils.decode_split_names(examples.split_names)
    }
    profile.update(row_profile.profile_rows(files, settings["label"], settings["time_column"], bounds))
    profile["label"] = settings["label"].get("name", "label")
    profile["span"] = span
    profile["scale"] = checks_lib.scale_factors(profile, [p for _, p in recent])  # the next spans' history
    profile["repeats"] = checks_lib.repeats(profile, earlier)
    label = settings["label"]
    found = checks_lib.run_checks(
        profile,
        [p for _, p in recent],
        checks_lib.Thresholds.from_dict(settings.get("thresholds", {})),
        period=checks_lib.span_period(layout, span),
        time_feature=settings["time_column"],
        seasonal=[p for _, p in seasonal],
        history_months=months,
        label_inputs=[c for c in (label.get("column"), label.get("relative_to")) if c],
    )
    fingerprint = str_prop(examples, FINGERPRINT)
    found = checks_lib.accept(found, acceptances(accepted or [], span, fingerprint))
    history_spans = [s for s, _ in recent]
    out = {
        "span": span,
        "history_spans": history_spans,
        "seasonal_spans": [s for s, _ in seasonal],
        "history_months": months,
        "profile": profile,
        "checks": [c.to_dict() for c in found],
    }
    with fileio.open(os.path.join(results.uri, RESULTS_FILE), "w") as f:
        f.write(json.dumps(out, indent=1))
    failed = [c for c in found if c.blocks]
    warned = [c for c in found if c.warns]
    results.set_int_custom_property("span", span)
    results.set_int_custom_property("failed", len(failed))
    results.set_int_custom_property("warnings", len(warned))
    results.set_string_custom_property(FINGERPRINT, fingerprint)
    # what `openct data accept` accepts, readable from ML Metadata alone (a cluster's files are in pods)
    results.set_string_custom_property(BLOCKING, json.dumps(sorted({(c.cls, c.feature) for c in failed})))
    print(
        f"    data checks: span {span}: {len(found)} checks against {len(history_spans)} earlier span(s), "
        f"{len(failed)} failed" + (f", {len(warned)} warning(s)" if warned else ""),
        flush=True,
    )
    for c in warned:
        print(f"    warning: {c.line()}", flush=True)
