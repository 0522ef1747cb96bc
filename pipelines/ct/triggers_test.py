"""Trigger decisions that need no pipeline run: what is new, and a check that cannot run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.config import PipelineConfig
from pipelines.ct import monitoring, triggers
from pipelines.data.spans import span_path
from tests.taxi_sample import log_span


def _config(tmp_path: Path) -> PipelineConfig:
    return PipelineConfig(
        data_root=str(tmp_path / "data"),
        pipeline_root=str(tmp_path / "pipeline"),
        serving_dir=str(tmp_path / "serving"),
    )


def _span(config: PipelineConfig, n: int, text: str = "tips,company\n1.0,Acme\n") -> Path:
    path = span_path(config.data_root, n)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_nothing_on_disk_starts_nothing(tmp_path):
    decision = triggers.new_data(_config(tmp_path))
    assert not decision.start and "no spans under" in decision.reason


def test_a_bucket_root_is_refused_with_the_way_out(tmp_path):
    config = _config(tmp_path).replace(data_root="gs://bucket/openct/data")
    with pytest.raises(ValueError, match=r"--data-root gs://bucket/openct/data: the trigger reads local paths only"):
        triggers.new_data(config)


def test_without_a_store_every_span_is_new_and_the_newest_is_run(tmp_path):
    config = _config(tmp_path)
    _span(config, 2), _span(config, 5)
    decision = triggers.new_data(config)
    assert decision.start and decision.span == 5 and decision.reason == "new span(s) 2, 5 since span -"


def test_a_check_that_cannot_read_the_span_is_reported_and_the_run_still_starts(tmp_path):
    """The run's gate is where bad data is stopped, with the anomaly named; the trigger must not crash."""
    config = _config(tmp_path)
    path = _span(config, 1)
    Path(config.model_serving_dir, "3").mkdir(parents=True)
    decision = triggers.decide(config)
    assert decision.start and decision.trigger == "new-span-1"
    assert f"degradation check not run: {path}: no column(s) fare" in decision.reason
    report = json.loads((tmp_path / "pipeline" / "reports" / "span-1.json").read_text())
    assert report["reasons"] == ["new-span"] and str(path) in report["checks_not_run"]["degradation"]
    assert not triggers.decide(config, on=("drift", "degradation")).start  # new data alone not enabled


def test_skewed_requests_to_the_serving_model_start_a_run_when_skew_is_enabled(taxi_config, tmp_path, monkeypatch):
    config = taxi_config.replace(serving_dir=str(tmp_path / "serving"), pipeline_root=str(tmp_path / "pipeline"))
    Path(config.model_serving_dir, "1").mkdir(parents=True)  # "v1 serves"; its quality is not this test's
    monkeypatch.setattr(monitoring, "serving_quality", lambda config, span: None)
    log_span(config, 6, version=1, payment_type="Mobile")
    decision = triggers.decide(config, on=("skew",))
    assert decision.start and decision.trigger == "skew-6"
    assert "skew of " in decision.reason and "requests logged to v1 vs spans 1-5" in decision.reason
    report = json.loads((tmp_path / "pipeline" / "reports" / "span-6.json").read_text())
    assert report["reasons"] == ["skew"] and report["skew"]["measures"]


def test_only_recent_active_kfp_runs_block_a_new_one():
    """KFP keeps a run whose Argo workflow is gone in its last state for good (CANCELING after a
    terminate: run_store.go:823-846 at KFP 2.17.0): such a run must not stop training forever."""
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)

    def run(state: str, minutes_ago: float | None) -> dict:
        changed = None if minutes_ago is None else now - timedelta(minutes=minutes_ago)
        return {"run_id": f"{state}-{minutes_ago}", "name": "r", "state": state, "changed": changed}

    runs = [
        run("RUNNING", 30),  # blocks
        run("RUNNING", 400),  # unchanged for longer than stale_after: stuck
        run("PENDING", None),  # no time recorded: blocks (cannot tell)
        run("CANCELING", 5),  # a cancel under way: blocks
        run("CANCELING", 11),  # past the grace: stuck
        run("SUCCEEDED", 1),
        run("CANCELED", 1000),
    ]
    blocking, stuck = triggers.blocking_runs(runs, timedelta(minutes=180), now)
    assert [r["run_id"] for r in blocking] == ["RUNNING-30", "PENDING-None", "CANCELING-5"]
    assert len(stuck) == 2
    assert stuck[0].startswith(
        "KFP run RUNNING-400 (r) has been RUNNING since 2026-12-05 05:20 UTC (400 min, limit 180"
    )
    assert "CANCELING-11" in stuck[1] and "limit 10 min" in stuck[1] and "run delete CANCELING-11" in stuck[1]
