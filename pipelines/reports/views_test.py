"""The HTML pages: escaped, the gate's page lists each anomaly, the Evaluator's reads a real TFMA
output (no pipeline run needed)."""

from __future__ import annotations

from pathlib import Path

from ml_metadata.proto import metadata_store_pb2

from components.gate import Anomaly, DataValidationError
from pipelines.reports import views


def test_gate_page_lists_each_anomaly_escaped():
    error = RuntimeError("executor failed")
    error.__cause__ = DataValidationError(
        7, [Anomaly("train", "fare", "ENUM_TYPE_UNEXPECTED_STRING_VALUES", "<b>twelve dollars</b>")], "/x/anomalies"
    )
    page = views.node_page("ValidationGate", "failed", 1.5, {}, error)
    assert "Span 7 blocked" in page and "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in page
    assert "&lt;b&gt;twelve dollars&lt;/b&gt;" in page and "<b>twelve" not in page


def test_push_page_and_outputs_table(tmp_path):
    pushed = metadata_store_pb2.Artifact(id=4, uri="/p/Pusher/pushed_model/9")
    pushed.custom_properties["pushed"].int_value = 1
    pushed.custom_properties["pushed_version"].string_value = "3"
    pushed.custom_properties["pushed_destination"].string_value = "/srv/taxi/3"
    path = views.write_view(tmp_path / "v" / "Pusher.html", "Pusher", "ran", 2.0, {"pushed_model": [pushed]})
    page = path.read_text()
    assert "Pushed version 3" in page and "/srv/taxi/3" in page and "/p/Pusher/pushed_model/9" in page


def test_a_broken_view_does_not_fail_the_node():
    evaluation = metadata_store_pb2.Artifact(id=1, uri="/does/not/exist")
    page = views.node_page("Evaluator", "ran", 1.0, {"evaluation": [evaluation]})
    assert "view unavailable" in page and "<code>Evaluator</code>: <b class='good'>ran</b>" in page


def test_statistics_table_reads_offline(tmp_path):
    """The statistics page's tables come from TFDV's own statistics, with no script at all."""
    import re

    import pandas as pd
    import tensorflow_data_validation as tfdv

    frame = pd.DataFrame({"fare": [1.0, 2.5, 2.5, 40.0, None], "payment_type": ["Cash", "Cash", "Card", None, "Card"]})
    stats = tfdv.generate_statistics_from_dataframe(frame).datasets[0]
    page = views.statistics_table(stats)
    assert "<script" not in page and "http" not in page
    fare = re.search(r"<tr><td>fare</td>(.*?)</tr>", page).group(1)
    assert fare.startswith("<td>4</td><td>1</td>")  # count, missing
    assert "<svg" in fare and "<rect" in fare  # its histogram
    cash = re.search(r"<tr><td>payment_type</td>(.*?)</tr>", page).group(1)
    assert cash.startswith("<td>4</td><td>1</td><td>2</td>") and "Cash (2)" in cash


def test_data_checks_page_lists_every_check_failed_first(tmp_path):
    import json

    from components.checks import Check

    checks = [
        Check("volume", "(dataset)", 900, 88.4, "min", "rows (history min 884)"),
        Check("scale", "fare", 100.0, 3.0, "max", "decile factor vs history (100x)"),
    ]
    (tmp_path / "checks.json").write_text(
        json.dumps(
            {"span": 7, "history_spans": [5, 6], "profile": {"rows": 900}, "checks": [c.to_dict() for c in checks]}
        )
    )
    results = metadata_store_pb2.Artifact(id=2, uri=str(tmp_path))
    page = views.node_page("DataChecks", "ran", 1.0, {"results": [results]})
    assert "1 of 2 checks failed" in page and "compared with the validated spans 5, 6" in page
    assert page.index("decile factor") < page.index("rows (history min 884)")  # the failure first
    assert "FAIL" in page and "+918%" in page  # 900 rows is 9.18 x above the 88.4 threshold


def test_data_checks_page_shows_warnings_apart_with_why(tmp_path):
    import json

    from components.checks import WARN, Check

    note = "a warning: the history covers 6 months, less than the 12 months it needs"
    checks = [
        Check("label", "rain", 0.17, 0.15, "max", "|label rate - history mean 0.571|", severity=WARN, note=note),
        Check("volume", "(dataset)", 184, 18.2, "min", "rows (history min 182)"),
    ]
    body = {"span": 2, "history_spans": [1], "seasonal_spans": [], "profile": {"rows": 184}}
    (tmp_path / "checks.json").write_text(json.dumps({**body, "checks": [c.to_dict() for c in checks]}))
    page = views.node_page(
        "DataChecks", "ran", 1.0, {"results": [metadata_store_pb2.Artifact(id=2, uri=str(tmp_path))]}
    )
    assert "All 2 checks passed or only warn" in page and "1 warning(s)" in page
    assert "<td>WARN</td>" in page and note in page and "FAIL" not in page


EVALUATION = Path(__file__).parent / "testdata" / "evaluation-with-baseline"  # a real TFMA output


def test_slices_of_a_real_evaluation_keep_candidate_baseline_and_change_apart():
    """TFMA writes a diff key per metric with model_name 'candidate' (is_diff set): taking every
    'candidate' key made the change overwrite the candidate's value (auc 0.0347 for hour 0)."""
    from pipelines.reports import slices

    columns = slices.read_slices(str(EVALUATION))
    assert list(columns) == ["trip_start_hour"]
    hours = columns["trip_start_hour"]
    assert [r.value for r in hours] == sorted(r.value for r in hours) and hours[0].value == 0
    assert all(isinstance(r.value, int) for r in hours)  # 0 stays the integer 0, not '0.0'
    for r in hours:
        assert 0.0 <= r.candidate["auc"] <= 1.0 and 0.0 <= r.baseline["auc"] <= 1.0
        assert abs(r.candidate["auc"] - r.baseline["auc"] - r.change["auc"]) < 1e-6, r
        assert r.candidate["example_count"] == r.baseline["example_count"] > 0
        assert r.change["example_count"] == 0


def test_evaluation_page_reads_slices_in_order_with_a_plot():
    import re

    evaluation = metadata_store_pb2.Artifact(id=9, uri=str(EVALUATION))
    blessing = metadata_store_pb2.Artifact(id=10, uri="/b")
    blessing.custom_properties["blessed"].int_value = 1
    page = views.node_page("Evaluator", "ran", 3.0, {"evaluation": [evaluation], "blessing": [blessing]})
    assert page.index("BLESSED") < page.index("<table>")  # the decision is the first thing said
    assert "against the baseline" in page
    slices_in_order = re.findall(r"<td>trip_start_hour=(\d+)</td>", page)
    assert slices_in_order == [str(h) for h in sorted(map(int, slices_in_order))] and slices_in_order[0] == "0"
    assert "<svg" in page and "<script" not in page and "https://" not in page
    row = re.search(
        r"<td>trip_start_hour=0</td><td>(\d+)</td><td>([\d.]+)</td><td>([\d.]+)</td><td>([+-][\d.]+)</td>", page
    )
    examples, candidate, baseline, change = row.groups()
    assert int(examples) > 0 and abs(float(candidate) - float(baseline) - float(change)) < 2e-4


def test_schema_and_ingest_pages_say_what_they_hold(tmp_path):
    """The curated schema as a feature table (only the bounds it sets), a span's splits, and what
    'cached' means, in words."""
    from pipelines.config import PipelineConfig

    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    (schema_dir / "schema.pbtxt").write_text(PipelineConfig().spec.schema_path().read_text())
    page = views.node_page(
        "ImportSchemaGen", "cached", 0.2, {"schema": [metadata_store_pb2.Artifact(uri=str(schema_dir))]}
    )
    assert "TFX reused that run" in page and "every span is validated against it" in page
    assert "<td>trip_start_hour</td><td>INT</td><td>required</td><td>&gt;= 0 and &lt;= 23</td>" in page
    examples = metadata_store_pb2.Artifact(id=3, uri="/p/CsvExampleGen/examples/3")
    examples.custom_properties["span"].int_value = 7
    examples.custom_properties["split_names"].string_value = '["train", "eval"]'
    page = views.node_page("CsvExampleGen", "ran", 2.0, {"examples": [examples]})
    assert "Ingested span 7 into train, eval." in page


def test_a_slice_with_few_examples_is_drawn_hollow_and_never_flagged():
    from pipelines.reports import slices

    few = slices.SliceMetrics("hour", 1, {"auc": 0.0, "example_count": 2}, {"auc": 1.0}, {"auc": -1.0})
    many = slices.SliceMetrics("hour", 2, {"auc": 0.8, "example_count": 50}, {"auc": 0.9}, {"auc": -0.1})
    svg = slices.plot_svg([few, many], "auc")
    assert svg.count("fill='#b00020'") == 1  # only the slice with enough examples is flagged red
    assert "fill='none' stroke='#1f5fbf'" in svg and "fill='none' stroke='#999'" in svg
