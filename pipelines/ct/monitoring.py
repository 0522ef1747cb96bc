"""Drift and degradation: has the data moved, has the served model got worse, on the newest span?

Drift is TFDV's: statistics of the newest span against those of the training window, compared with
the drift comparators of the curated schema (`tfdv.validate_statistics(previous_statistics=...)`).
The window's statistics are the ones StatisticsGen stored for each of its spans (ML Metadata),
merged (`merge_for_comparators`); the new span, which no StatisticsGen has seen yet, is read from
its CSV through `tfdv.generate_statistics_from_dataframe`, typed by the curated schema. Where a
window span has no stored statistics readable here, the window is read from its CSVs too.

Skew: statistics of the requests logged by `openct serving predict` to the serving model (TFRecord files
of the tf.Examples it sent, pipelines.serving) against the training window, compared with the
skew comparators of the curated schema (`serving_statistics=`). Only when such logs exist.

Degradation: the served model (the pinned version, else the newest under the serving directory) scores the newest
labelled span; AUC and accuracy below the Evaluator's absolute thresholds mean it has degraded.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pipelines.config import PipelineConfig
from pipelines.data.dataset import DatasetSpec
from pipelines.data.spans import span_path


@dataclasses.dataclass
class DriftReport:
    """Drift or skew: `subject` (a span, logged requests) against the training `window`."""

    subject: str
    window: list[int]
    measures: list[tuple[str, str, float, float]]  # (feature, comparator, value, threshold)

    @property
    def drifted(self) -> list[str]:
        return [
            f"{f} {kind} {value:.3f} > {threshold}" for f, kind, value, threshold in self.measures if value > threshold
        ]

    @property
    def score(self) -> float:
        """The largest value/threshold ratio: above 1 is drift."""
        return max((value / threshold for _, _, value, threshold in self.measures if threshold), default=0.0)


@dataclasses.dataclass
class QualityReport:
    span: int
    version: int
    rows: int
    auc: float | None
    accuracy: float

    def degraded(self, config: PipelineConfig) -> list[str]:
        problems = (
            [f"accuracy {self.accuracy:.3f} < {config.min_accuracy}"] if self.accuracy < config.min_accuracy else []
        )
        if self.auc is not None and self.auc < config.min_auc:
            problems.append(f"AUC {self.auc:.3f} < {config.min_auc}")
        return problems


def required_columns(spec: DatasetSpec) -> list[str]:
    """Columns the curated schema wants in every row (presence min_fraction 1)."""
    return [f.name for f in spec.load_schema().feature if f.presence.min_fraction >= 1.0]


def span_frame(data_root: str, spans: list[int], spec: DatasetSpec):
    """The spans' rows as a DataFrame typed by the curated schema (empty cells are missing)."""
    import pandas as pd

    from pipelines.serving import feature_types

    types = feature_types(spec)
    raw = pd.concat(
        [pd.read_csv(span_path(data_root, s), dtype=str, keep_default_na=False) for s in spans], ignore_index=True
    )
    columns = {}
    for name in raw.columns:
        values = raw[name].replace("", None)
        kind = types.get(name, "BYTES")
        if kind in ("INT", "FLOAT"):
            numeric = pd.to_numeric(values, errors="coerce").astype("float64")  # bad cells: the gate's business
            integral = kind == "INT" and bool((numeric.dropna() % 1 == 0).all())
            columns[name] = numeric.astype("Int64") if integral else numeric
        else:
            columns[name] = values
    return pd.DataFrame(columns)


def _window_statistics(config: PipelineConfig, window: list[int], stored: dict[int, tuple[str, list[str]]]):
    """The window's statistics: StatisticsGen's, merged, when every span has them; else from CSV."""
    import tensorflow_data_validation as tfdv

    from components.data_checks import read_statistics

    if window and set(window) <= set(stored):
        try:
            lists = [s for span in window for s in read_statistics(*stored[span]).values()]
        except OSError:  # recorded where this machine cannot read (another mount)
            lists = []
        if lists:
            return merge_for_comparators(lists, comparator_features(config.spec.load_schema()))
    return tfdv.generate_statistics_from_dataframe(span_frame(config.data_root, window, config.spec))


def comparator_features(schema) -> set[str]:
    """Features with a drift or skew comparator in the curated schema."""
    return {f.name for f in schema.feature if f.HasField("drift_comparator") or f.HasField("skew_comparator")}


def merge_for_comparators(lists, features: set[str]):
    """One dataset's statistics from several (spans x splits), for TFDV's drift and skew checks of
    `features`: example counts summed and, per feature, its presence counts and the value counts
    of its rank histogram and top values summed: what TFDV's L-infinity distance compares (the
    value distribution of a categorical feature). TFDV has no public merge of stored statistics;
    numeric distributions (histograms, quantiles) do not add up, so a numeric comparator is refused
    here rather than compared on half a merge."""
    from collections import Counter

    from tensorflow_metadata.proto.v0 import statistics_pb2

    merged = statistics_pb2.DatasetFeatureStatisticsList()
    out = merged.datasets.add(name="window")
    by_feature: dict[str, tuple[Any, Counter, Counter, int, int]] = {}
    for stats in lists:
        for dataset in stats.datasets:
            out.num_examples += dataset.num_examples
            for feature in dataset.features:
                name = feature.path.step[0] if feature.path.step else feature.name
                if name not in features:
                    continue
                if not feature.HasField("string_stats"):
                    raise ValueError(
                        f"feature {name!r}: only categorical comparators are merged from stored statistics"
                    )
                proto, ranks, tops, present, missing = by_feature.get(name, (feature, Counter(), Counter(), 0, 0))
                ranks.update({b.label: b.sample_count for b in feature.string_stats.rank_histogram.buckets})
                tops.update({v.value: v.frequency for v in feature.string_stats.top_values})
                common = feature.string_stats.common_stats
                by_feature[name] = (proto, ranks, tops, present + common.num_non_missing, missing + common.num_missing)
    for _name, (proto, ranks, tops, present, missing) in sorted(by_feature.items()):
        feature = out.features.add()
        feature.path.CopyFrom(proto.path)
        feature.type = proto.type
        feature.string_stats.common_stats.num_non_missing = present
        feature.string_stats.common_stats.num_missing = missing
        feature.string_stats.unique = len(ranks)
        for rank, (label, count) in enumerate(ranks.most_common()):
            feature.string_stats.rank_histogram.buckets.add(
                low_rank=rank, high_rank=rank, label=label, sample_count=count
            )
        for value, count in tops.most_common(len(proto.string_stats.top_values)):
            feature.string_stats.top_values.add(value=value, frequency=count)
    return merged


def _measures(anomalies, field: str) -> list[tuple[str, str, float, float]]:
    measures = []
    for info in anomalies.drift_skew_info:
        for m in getattr(info, field):
            measures.append(
                (".".join(info.path.step), type(m).Type.Name(m.type).lower(), round(m.value, 4), m.threshold)
            )
    return sorted(measures)


def drift(config: PipelineConfig, span: int, window: list[int], stored: dict | None = None) -> DriftReport:
    """`stored`: lineage.span_statistics of the window's spans (empty: read them from CSV)."""
    import tensorflow_data_validation as tfdv

    spec = config.spec
    current = tfdv.generate_statistics_from_dataframe(span_frame(config.data_root, [span], spec))
    previous = _window_statistics(config, window, stored or {})
    anomalies = tfdv.validate_statistics(
        current, spec.load_schema(), environment="TRAINING", previous_statistics=previous
    )
    return DriftReport(f"span {span}", window, _measures(anomalies, "drift_measurements"))


def skew(config: PipelineConfig, version: int, window: list[int], stored: dict | None = None) -> DriftReport | None:
    """Requests logged to serving `version` against its training window; None without logs."""
    import tensorflow_data_validation as tfdv

    from pipelines import serving

    files = serving.request_logs(config, version)
    if not files:
        return None
    # TFDV's own reader of tf.Example TFRecords (a Beam pipeline on the DirectRunner, a few seconds).
    requests = tfdv.generate_statistics_from_tfrecord(data_location=str(files[0].parent / "*.tfrecord"))
    anomalies = tfdv.validate_statistics(
        _window_statistics(config, window, stored or {}),
        config.spec.load_schema(),
        environment="TRAINING",
        serving_statistics=requests,
    )
    count = requests.datasets[0].num_examples
    return DriftReport(f"{count} requests logged to v{version}", window, _measures(anomalies, "skew_measurements"))


def serving_quality(config: PipelineConfig, span: int) -> QualityReport | None:
    """The served model's AUC and accuracy on a span's rows; None when nothing is served."""
    import numpy as np
    import tensorflow as tf
    from sklearn.metrics import roc_auc_score

    from pipelines import serving
    from pipelines.data.spans import read_rows
    from pipelines.models.model import SERVING_OUTPUT

    version = serving.served_version(config.serving_dir, config.served_model_name)
    if version is None:
        return None
    spec = config.spec
    path = span_path(config.data_root, span)
    header, rows = read_rows(path)
    required = [c for c in required_columns(spec) if c in spec.feature_columns or c == spec.label.column]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{path}: no column(s) {', '.join(missing)}: the served model cannot score this span")
    types = serving.feature_types(spec)
    records, encoded = [], []
    for _, values in rows:
        record = dict(zip(header, values, strict=True))  # read_rows checked the field count
        if any(record[c] == "" for c in required):
            continue  # a row without a required value (the gate reports it): not scored
        try:
            encoded.append(serving.example_bytes(record, spec, types))
        except ValueError:  # a malformed value (the gate reports it): not scored
            continue
        records.append(record)
    if not records:
        return None
    signature = tf.saved_model.load(str(Path(config.model_serving_dir) / str(version))).signatures["serving_default"]
    examples = tf.constant(encoded)
    scores = signature(examples=examples)[SERVING_OUTPUT].numpy().ravel()
    labels = np.array([spec.label.of(r) for r in records])
    auc = float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else None
    accuracy = float(((scores > 0.5).astype(int) == labels).mean())
    return QualityReport(span, version, len(records), auc, accuracy)


def write_report(config: PipelineConfig, span: int, report: dict) -> Path:
    path = Path(config.pipeline_root) / "reports" / f"span-{span}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    return path
