"""DataChecks: judge a new span against the validated spans before it (checks in components.checks).

Between ExampleValidator (the span against the curated schema) and the ValidationGate: it
profiles the span from StatisticsGen's statistics (TFDV's counts, missing and zero counts,
min/max, deciles) plus one pass over its Examples for what TFDV does not compute (duplicate rows,
the derived label rate), compares the profile with the profiles recorded on the `ValidatedSpan`
records of the window before it, and writes every check (passed or not, with the measured value
and the threshold) to `checks.json`. The gate fails on any failed check, as on a schema anomaly,
and copies the profile onto the span's ValidatedSpan record: the history of later spans, read
from ML Metadata without re-reading data.
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
from components.artifacts import span_of, str_prop
from components.checks import LAYOUT_FILE

RESULTS_FILE = "checks.json"
PROFILE = "profile"  # the ValidatedSpan custom property holding the span's profile (JSON)


class ValidatedSpan(artifact.Artifact):
    """Record that one Examples artifact (one span) passed data validation, with its profile."""

    TYPE_NAME = "openct.ValidatedSpan"


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
            if kind != "num_stats":
                continue
            num = feature.num_stats
            if name == time_feature and common.num_non_missing:
                times += [num.min, num.max]
            if name not in scale_features:  # zeros and deciles of measurements, not of categories (hour 0)
                continue
            zeros[name] = zeros.get(name, 0) + num.num_zeros
            if common.num_non_missing:
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
    }


def _empty_values(common: Any) -> int:
    """Rows where the feature is present with no value. CsvExampleGen turns an empty CSV cell into
    a feature with an empty value list, which TFDV counts as non-missing (measured: a span with 381
    of 407 `company` cells empty had num_missing 0, num_non_missing 254, tot_num_values 19 in its
    train split). For a single-valued column every other present row has exactly one value."""
    if common.max_num_values > 1:
        return 0
    return int(common.num_non_missing - common.tot_num_values)


def _value(feature: Any) -> Any:
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else []
    if not values:
        return None
    return values[0].decode("utf-8", "replace") if kind == "bytes_list" else values[0]


def _row_text(example: Any, limit: int = 300) -> str:
    """A row as `name=value, ...` in column order of the Example, to find it in the CSV."""
    parts = [f"{name}={_value(f)}" for name, f in sorted(example.features.feature.items())]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def profile_rows(examples: Any, splits: list[str], label: dict[str, Any]) -> dict[str, Any]:
    """What TFDV does not compute: the share of rows identical to an earlier row (ExampleGen
    sends identical rows to the same split, base_example_gen_executor.py:42-47, so per-split
    counting finds them all), the label rate by LabelSpec's rule, and per float column the share
    of rows holding NaN or an infinity, with the first such row. (TFDV's histograms count NaNs
    but not infinities, which only show as a min or max.)"""
    import math

    import tensorflow as tf  # already loaded by TFX's executors; imported here to keep compile light

    nonfinite: dict[str, int] = {}
    nonfinite_example: dict[str, str] = {}
    rows = positives = duplicates = 0
    for split in splits:
        files = fileio.glob(os.path.join(standard_artifact_utils.get_split_uri([examples], split), "*"))
        seen: set[bytes] = set()
        for record in tf.data.TFRecordDataset(sorted(files), compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            key = example.SerializeToString(deterministic=True)
            duplicates += key in seen
            seen.add(key)
            rows += 1
            values = {name: _value(f) for name, f in example.features.feature.items()}
            positives += checks_lib.label_of(values, label)
            for name, f in example.features.feature.items():
                if f.WhichOneof("kind") != "float_list":
                    continue
                bad = any(not math.isfinite(v) for v in f.float_list.value)
                nonfinite[name] = nonfinite.get(name, 0) + bad
                if bad and name not in nonfinite_example:
                    nonfinite_example[name] = _row_text(example)
    return {
        "duplicates": duplicates / rows if rows else 0.0,
        "label_rate": positives / rows if rows else None,
        "nonfinite": {k: v / rows for k, v in nonfinite.items()} if rows else {},
        "nonfinite_example": nonfinite_example,
    }


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
) -> None:
    """Profiles `examples` and checks the profile against `history` (the validated spans before it).

    `config` (JSON, built by pipelines.pipeline.dag from the dataset spec): thresholds, label,
    scale_features, time_column, data_root (for the span's period in layout.json).
    """
    settings = json.loads(config)
    span = span_of(examples)
    splits = artifact_utils.decode_split_names(statistics.split_names)
    profile = profile_from_statistics(
        read_statistics(statistics.uri, splits), settings["scale_features"], settings["time_column"]
    )
    profile.update(profile_rows(examples, artifact_utils.decode_split_names(examples.split_names), settings["label"]))
    profile["label"] = settings["label"].get("name", "label")
    profiled = [h for h in history or [] if str_prop(h, PROFILE)]  # records from before data checks have none
    found = checks_lib.run_checks(
        profile,
        [json.loads(str_prop(h, PROFILE)) for h in profiled],
        checks_lib.Thresholds.from_dict(settings.get("thresholds", {})),
        period=checks_lib.span_period(read_layout(settings.get("data_root", "")), span),
        time_feature=settings["time_column"],
    )
    history_spans = [span_of(h) for h in profiled]
    out = {
        "span": span,
        "history_spans": history_spans,
        "profile": profile,
        "checks": [c.to_dict() for c in found],
    }
    with fileio.open(os.path.join(results.uri, RESULTS_FILE), "w") as f:
        f.write(json.dumps(out, indent=1))
    failed = [c for c in found if not c.passed]
    results.set_int_custom_property("span", span)
    results.set_int_custom_property("failed", len(failed))
    print(
        f"    data checks: span {span}: {len(found)} checks against {len(history_spans)} earlier span(s), "
        f"{len(failed)} failed",
        flush=True,
    )
