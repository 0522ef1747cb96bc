"""Drift and degradation checks on real taxi rows (no pipeline run, a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import PipelineConfig
from pipelines.ct import monitoring
from pipelines.ct.replay import drift_payments
from tests.taxi_sample import log_span


@pytest.fixture(scope="module")
def config(taxi_config) -> PipelineConfig:
    return taxi_config


def test_span_frame_types_columns_by_schema(config):
    frame = monitoring.span_frame(config.data_root, [1, 2], config.spec)
    assert str(frame["trip_start_hour"].dtype) == "Int64" and str(frame["fare"].dtype) == "float64"
    assert frame["payment_type"].dtype == object and frame["company"].isna().any()  # empty cells are missing


def test_drift_found_only_where_the_distribution_moved(config):
    same = monitoring.drift(config, 3, [1, 2])
    assert "payment_type" not in " ".join(same.drifted)
    drift_payments(Path(config.data_root) / "span-6" / "data.csv")
    moved = monitoring.drift(config, 6, [4, 5])
    assert any(d.startswith("payment_type l_infty") for d in moved.drifted) and moved.score > 1
    assert {m[0] for m in moved.measures} == {"payment_type", "company"}  # the curated comparators


def test_quality_degraded_names_each_threshold(config):
    report = monitoring.QualityReport(span=4, version=2, rows=100, auc=0.6, accuracy=0.5)
    assert report.degraded(config) == ["accuracy 0.500 < 0.6", "AUC 0.600 < 0.65"]
    assert monitoring.QualityReport(4, 2, 100, None, 0.9).degraded(config) == []


def test_serving_quality_needs_a_served_model_and_the_required_columns(config, tmp_path):
    assert monitoring.serving_quality(config, 1) is None  # nothing served yet
    (tmp_path / "taxi" / "1").mkdir(parents=True)
    (tmp_path / "data" / "span-1").mkdir(parents=True)
    (tmp_path / "data" / "span-1" / "data.csv").write_text("tips,company\n1.0,Acme\n")
    broken = config.replace(serving_dir=str(tmp_path), data_root=str(tmp_path / "data"))
    with pytest.raises(ValueError, match=r"span-1/data.csv: no column\(s\) fare, trip_miles"):
        monitoring.serving_quality(broken, 1)
    assert "company" not in monitoring.required_columns(config.spec)  # often empty in the taxi data


def test_skew_of_logged_requests_against_the_training_window(config, tmp_path):
    logged = config.replace(serving_dir=str(tmp_path))
    assert monitoring.skew(logged, 1, [1, 2]) is None  # no request logs: no skew check
    log_span(logged, 3, version=1)
    usual = monitoring.skew(logged, 1, [1, 2])
    assert usual.subject.endswith("requests logged to v1") and not usual.drifted
    assert {m[0] for m in usual.measures} == {"payment_type", "company"}
    log_span(logged, 3, version=2, payment_type="Mobile")  # a client that mislabels every payment
    skewed = monitoring.skew(logged, 2, [1, 2])
    assert any(d.startswith("payment_type l_infty") for d in skewed.drifted) and skewed.score > 1
