"""Replay on small spans: one run per arriving span, none without one, the corrupted span blocked
with the serving model kept, the drifted span detected and reported, and no served model below
the absolute threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines import lineage
from pipelines.config import PipelineConfig
from pipelines.ct import triggers
from pipelines.ct.replay import replay, write_timeline
from pipelines.data.dataset import CHICAGO_TAXI
from tests.taxi_sample import small_taxi_csv

pytestmark = pytest.mark.e2e


def test_replay_with_a_corrupted_and_a_drifted_span(tmp_path):
    source = tmp_path / "source.csv"
    small_taxi_csv(source)
    spec_file = tmp_path / "taxi-small.json"
    spec_file.write_text(
        json.dumps({**CHICAGO_TAXI.to_dict(), "source": str(source), "schema_file": str(CHICAGO_TAXI.schema_path())})
    )
    config = PipelineConfig(
        dataset=str(spec_file),
        data_root=str(tmp_path / "data"),
        pipeline_root=str(tmp_path / "pipeline"),
        serving_dir=str(tmp_path / "serving"),
        window_spans=2,
        train_steps=300,
        model_name="taxi",
    )
    runs_seen = []

    def counting_run(cfg, trigger):
        from pipelines.runners.local import run_local

        runs_seen.append(trigger)
        return run_local(cfg, trigger=trigger)

    timeline = replay(config, corrupt_at=3, drift_at=4, upto=4, report=lambda line: None, run=counting_run)

    assert [a.span for a in timeline] == [1, 2, 3, 4]
    assert all(a.started for a in timeline) and len(runs_seen) == 4  # one run per arriving span
    with lineage.open_store(config.metadata) as store:
        history = [r for r in lineage.runs(store, config.pipeline_name) if ":backfill-span" not in r.trigger]
    assert [r.spans for r in history] == [[1], [2], [3], [4]]

    corrupted, drifted = timeline[2], timeline[3]
    assert corrupted.outcome == "blocked"
    assert corrupted.serving_version == timeline[1].serving_version is not None  # the serving model stays
    assert drifted.drift_score > 1 and "payment_type" in drifted.drifted
    report = json.loads((Path(config.pipeline_root) / "reports" / "span-4.json").read_text())
    assert "drift" in report["reasons"] and report["drift_score"] > 1

    assert not triggers.decide(config).start  # nothing new: no run
    with lineage.open_store(config.metadata) as store:
        pushed = [m for m in lineage.models(store) if m.pushed_version]
    assert pushed and all(m.metrics["auc"] >= config.min_auc for m in pushed)

    with lineage.open_store(config.metadata) as store:
        checks = lineage.data_check_results(store)
    assert sorted(checks) == [1, 2, 3, 4]  # the corrupted span too: its data checks ran, the schema blocked it
    files = write_timeline(timeline, tmp_path / "timeline", config, checks)
    assert files[2].stat().st_size > 10_000 and files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    margins = files[3].read_text()
    assert "Clean spans blocked at the gate: 0 of 2" in margins  # span 3 is corrupted, span 4 drifted
    assert all(f"| {cls} |" in margins for cls in ("volume", "completeness", "label", "scale", "time"))
    assert len((tmp_path / "timeline" / "timeline.csv").read_text().splitlines()) == 5
