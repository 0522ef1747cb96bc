"""End to end with the local runner, on small spans of the taxi data, in a temporary directory.

The scenarios build on each other (one pipeline root, one ML Metadata store), in file order:
first run -> cached rerun -> new span -> bad spans -> worse model.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from components.checks import span_period
from components.versions import served_versions
from pipelines import cli, lineage, serving
from pipelines.config import REPO_ROOT, PipelineConfig
from pipelines.ct import triggers
from pipelines.data.dataset import CHICAGO_TAXI
from pipelines.data.spans import cut_spans, existing_spans, span_path
from pipelines.reports.summary import RunSummary
from pipelines.runners.local import run_local
from tests.taxi_sample import small_taxi_csv
from tests.webhook_sink import WebhookSink

pytestmark = pytest.mark.e2e


def write_span(data_root: Path, number: int, header: list[str], rows: list[list[str]]) -> None:
    target = data_root / f"span-{number}"
    target.mkdir()
    with open(target / "data.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def read_span(data_root: Path, number: int) -> tuple[list[str], list[list[str]]]:
    with open(span_path(data_root, number), newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()


class World:
    def __init__(self, root: Path):
        self.root = root
        self.source = root / "source.csv"
        small_taxi_csv(self.source)
        self.config = PipelineConfig(
            data_root=str(root / "data"),
            pipeline_root=str(root / "pipeline"),
            serving_dir=str(root / "serving"),
            window_spans=3,
            train_steps=400,
        )
        self.data = Path(self.config.data_root)
        self.serving = Path(self.config.model_serving_dir)

    def arrive(self, upto: int) -> None:
        cut_spans(self.source, self.data, CHICAGO_TAXI.timestamp_column, 3, upto=upto)

    def fresh_rows(self, quarter: int) -> tuple[list[str], list[list[str]]]:
        """Real trips of span `quarter`'s period that no span holds (the sample's other rows):
        a new span made from them repeats no earlier span's rows."""
        fresh = self.root / "fresh"
        if not fresh.exists():
            fresh.mkdir()
            small_taxi_csv(fresh / "source.csv", offset=1)
            cut_spans(fresh / "source.csv", fresh / "data", CHICAGO_TAXI.timestamp_column, 3)
        return read_span(fresh / "data", quarter)

    def versions(self) -> list[int]:
        return served_versions(str(self.serving))

    def flags(self) -> list[str]:
        c = self.config
        return [
            "--data-root",
            c.data_root,
            "--pipeline-root",
            c.pipeline_root,
            "--serving-dir",
            c.serving_dir,
            "--window-spans",
            str(c.window_spans),
            "--train-steps",
            str(c.train_steps),
            "--summary-json",
            str(self.root / "summary.json"),
        ]

    def last_summary(self) -> RunSummary:
        return RunSummary(**json.loads((self.root / "summary.json").read_text()))

    def history(self) -> list[lineage.RunRecord]:
        with lineage.open_store(self.config.metadata) as store:
            return lineage.runs(store, self.config.pipeline_name)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("e2e"))


def test_1_first_run_trains_blesses_and_pushes_version_1(world):
    world.arrive(upto=3)
    summary = run_local(world.config)
    assert summary.status == "pushed", summary.format()
    assert summary.spans == [1, 2, 3] and summary.ingested == [1, 2, 3]
    assert summary.blessed and not summary.has_baseline
    assert summary.metrics["candidate"]["auc"] >= world.config.min_auc
    assert summary.pushed_version == 1
    assert world.versions() == [1]
    assert (world.serving / "1" / "saved_model.pb").is_file()
    views = Path(summary.views_dir)  # one HTML page per node, linked from the summary
    assert "Pushed version 1" in (views / "Pusher.html").read_text()
    assert "BLESSED" in (views / "Evaluator.html").read_text()
    backfill = (views / "backfill-spans-1-2" / "StatisticsGen.html").read_text()  # one section per span
    assert "<h2>span 1</h2>" in backfill and "<h2>span 2</h2>" in backfill
    assert (views / "backfill-span-2" / "ValidationGate.html").is_file()
    # The body `openct serving predict` sends to TF Serving is what the pushed model's signature accepts.
    _, rows = serving.sample_rows(world.config.data_root, 5)
    body = serving.predict_body(
        [serving.example_bytes(r, CHICAGO_TAXI, serving.feature_types(CHICAGO_TAXI)) for r in rows]
    )
    examples = [base64.b64decode(i["examples"]["b64"]) for i in body["instances"]]
    served = tf.saved_model.load(str(world.serving / "1")).signatures[body["signature_name"]]
    probabilities = served(examples=tf.constant(examples))["probabilities"].numpy()
    assert probabilities.shape == (5, 1) and ((probabilities >= 0) & (probabilities <= 1)).all()


def test_2_rerun_without_new_data_is_cached_and_pushes_nothing(world):
    before = tree_digest(world.serving)
    summary = run_local(world.config)
    assert summary.status == "unchanged", summary.format()
    assert summary.ran_nodes == 0 and summary.cached_nodes >= 7
    assert world.versions() == [1]
    assert tree_digest(world.serving) == before


def test_2b_trigger_with_no_new_span_starts_nothing(world, capsys):
    runs_before = len(world.history())
    assert cli.main(["ct", "trigger", *world.flags()]) == cli.EXIT_NOTHING
    out = capsys.readouterr().out
    assert "no new span" in out and "decided by rule no-new-span" in out
    assert len(world.history()) == runs_before


def test_3_new_span_retrains_against_the_baseline(world, capsys):
    world.arrive(upto=4)
    runs_before = len(world.history())
    assert cli.main(["ct", "trigger", *world.flags()]) == 0  # the new span starts exactly one run
    assert "new span(s) 4 since span 3" in capsys.readouterr().out
    history = world.history()
    assert len(history) == runs_before + 1 and history[-1].spans == [4]
    assert history[-1].trigger.startswith("new-span") and history[-1].trigger.endswith("-4")  # + drift if any
    assert not triggers.new_data(world.config).start
    summary = world.last_summary()
    assert summary.ok, summary.format()
    assert summary.spans == [2, 3, 4] and summary.ingested == [4]
    assert summary.eval_spans == [2, 3]  # the model gate judges on spans an earlier run vetted
    assert summary.has_baseline
    assert {"candidate", "baseline"} <= set(summary.metrics)
    assert "auc_diff" in summary.metrics["candidate"]
    if summary.blessed:  # the decision is the Evaluator's; both outcomes must be consistent
        assert summary.pushed_version == 2 and world.versions() == [1, 2]
    else:
        assert summary.pushed_version is None and world.versions() == [1]


def test_3b_drift_and_skew_read_the_windows_statistics_from_statisticsgen(world, monkeypatch):
    """The trigger's window statistics are StatisticsGen's, stored for each span, merged; they give
    the drift and skew measurements that statistics from the same spans' CSVs give."""
    from pipelines.ct import monitoring
    from tests.taxi_sample import log_span

    window, span = [2, 3], 4
    with lineage.open_store(world.config.metadata) as store:
        stored = lineage.span_statistics(store, window)
    assert set(stored) == set(window)
    log_span(world.config, span, 1, payment_type="Cash")  # requests, for the skew check
    from_csv = monitoring.drift(world.config, span, window, {}), monitoring.skew(world.config, 1, window, {})
    read_csvs = monitoring.span_frame
    monkeypatch.setattr(  # from here on, reading a window span's CSV is an error
        monitoring, "span_frame", lambda root, spans, spec: read_csvs(root, spans, spec) if spans == [span] else 1 / 0
    )
    from_stored = monitoring.drift(world.config, span, window, stored), monitoring.skew(world.config, 1, window, stored)
    for csv_report, stored_report in zip(from_csv, from_stored, strict=True):
        assert csv_report.measures and [m[:2] for m in csv_report.measures] == [m[:2] for m in stored_report.measures]
        for (_, _, a, _), (_, _, b, _) in zip(csv_report.measures, stored_report.measures, strict=True):
            assert a == pytest.approx(b, abs=1e-3), (csv_report.measures, stored_report.measures)
    assert any(value > threshold for _, _, value, threshold in from_stored[1].measures)  # all Cash: skew
    for request_log in serving.request_logs(world.config, 1):
        request_log.unlink()  # leave later scenarios' triggers without this skew


def span_4_again(header, rows):
    """The maker of a span that is span 4's rows again, timestamps moved into the new period
    (test_4 passes it span 4's own rows; every other maker gets fresh trips)."""
    return header, rows


def _bad_spans():
    """(description, maker, feature the gate must name, kind): each maker turns a clean span's
    rows into a bad one, which becomes the newest span. The first eight break no rule of the
    curated schema and are caught by the data checks (against the span's history, or absolute:
    NaN, a repeated span); the others break the schema."""

    def column(header, rows, name, change):
        col = header.index(name)
        return header, [r[:col] + [change(i, r[col])] + r[col + 1 :] for i, r in enumerate(rows)]

    def missing_column(header, rows):
        col = header.index("payment_type")
        return [h for i, h in enumerate(header) if i != col], [[v for i, v in enumerate(r) if i != col] for r in rows]

    def string_in_numeric(header, rows):
        return column(header, rows, "fare", lambda i, v: "twelve dollars" if i == 5 else v)

    def out_of_domain(header, rows):
        return column(header, rows, "payment_type", lambda i, v: "Bitcoin" if i % 7 == 0 else v)

    def no_rows(header, rows):  # a header and nothing else: TFDV validates nothing and sets only data_missing
        return header, []

    def few_rows(header, rows):
        return header, rows[:12]

    def company_mostly_missing(header, rows):
        return column(header, rows, "company", lambda i, v: v if i % 10 == 0 else "")

    def exported_twice(header, rows):
        return header, rows + rows[: len(rows) // 3]

    def milliseconds(header, rows):
        return column(header, rows, "trip_start_timestamp", lambda i, v: str(int(v) * 1000))

    def fare_nan(header, rows):  # "NaN" parses as a float: FLOAT in the schema; pushed before the check
        return column(header, rows, "fare", lambda i, v: "NaN" if i % 20 == 0 else v)

    def label_input_zeroed(header, rows):  # the case: AUC rose, evaluated on the same span
        return column(header, rows, "tips", lambda i, v: "0")

    def one_payment_type(header, rows):  # a join or export default: every trip paid "Cash", in the domain
        return column(header, rows, "payment_type", lambda i, v: "Cash")

    def fare_extreme_tail(header, rows):  # 3% of fares x100 (cents in a few rows): no decile moves
        return column(header, rows, "fare", lambda i, v: f"{float(v) * 100:.2f}" if v and i % 33 == 0 else v)

    def money_at_x2(header, rows):  # another currency at x2: under the fixed x3, over fare's own x1.09 squared
        header, rows = column(header, rows, "fare", lambda i, v: f"{float(v) * 2:.2f}" if v else v)
        return column(header, rows, "tips", lambda i, v: f"{float(v) * 2:.2f}" if v else v)

    def money_in_cents(header, rows):  # fare and tips in cents: the label (tips > 20% fare) is unchanged
        header, rows = column(header, rows, "fare", lambda i, v: f"{float(v) * 100:.0f}" if v else v)
        return column(header, rows, "tips", lambda i, v: f"{float(v) * 100:.0f}" if v else v)

    return [
        ("a tenth of the rows", few_rows, "(dataset)", "VOLUME"),
        ("company mostly missing", company_mostly_missing, "company", "COMPLETENESS"),
        ("a third of the rows exported twice", exported_twice, "(dataset)", "DUPLICATION"),
        ("span 4's rows again, only their timestamps moved", span_4_again, "(dataset)", "DUPLICATION"),
        ("timestamps in milliseconds", milliseconds, "trip_start_timestamp", "TIME"),
        ("fare NaN in 5% of the rows", fare_nan, "fare", "FINITENESS"),
        ("label input zero on every row", label_input_zeroed, "big_tipper", "LABEL"),
        ("money in cents", money_in_cents, "fare", "SCALE"),
        ("payment_type collapsed to one value", one_payment_type, "payment_type", "CATEGORY"),
        ("fare x100 in 3% of the rows", fare_extreme_tail, "fare", "TAIL"),
        ("money in another currency at x2", money_at_x2, "fare", "SCALE"),
        ("no rows", no_rows, "(dataset)", "NO_ROWS"),
        ("missing column", missing_column, "payment_type", ""),
        ("string in a numeric column", string_in_numeric, "fare", ""),
        ("out-of-domain category", out_of_domain, "payment_type", ""),  # stays the newest span for test_4b
    ]


def into_period(world, header: list[str], rows: list[list[str]], source: int, target: int) -> list[list[str]]:
    """Span `source`'s period's rows moved into span `target`'s period (the layout's; rows past a
    shorter period's end are dropped), so that only the corruption under test is wrong with them."""
    layout = json.loads((world.data / "layout.json").read_text())
    (start, _), (target_start, target_end) = span_period(layout, source), span_period(layout, target)
    col = header.index(CHICAGO_TAXI.timestamp_column)
    moved = [r[:col] + [str(int(r[col]) + int(target_start - start))] + r[col + 1 :] for r in rows]
    return [r for r in moved if int(r[col]) < target_end]


def test_4_bad_spans_stop_at_the_gate_and_serving_is_untouched(world):
    served = world.versions()
    before = tree_digest(world.serving)
    number = 5
    for description, make, feature, kind in _bad_spans():
        header, rows = read_span(world.data, 4) if make is span_4_again else world.fresh_rows(4)
        header, rows = make(header, into_period(world, header, rows, 4, number))
        write_span(world.data, number, header, rows)
        summary = run_local(world.config)
        assert summary.status == "blocked", f"{description}: {summary.format()}"
        named = f"feature '{feature}': {kind}" if kind else f"feature '{feature}'"
        assert any(named in a for a in summary.anomalies), (description, summary.anomalies)
        if make is span_4_again:  # the rows of an earlier span, not rows repeated within this one
            assert any("repeating span 4's" in a for a in summary.anomalies), summary.anomalies
        assert summary.pushed_version is None
        assert world.versions() == served and tree_digest(world.serving) == before
        assert feature in (Path(summary.views_dir) / "ValidationGate.html").read_text()
        number += 1


def test_4b_cli_reports_the_gate_with_exit_code_3_and_alerts(world):
    """The same through the command a person runs: non-zero exit, anomaly named on the console,
    and an alert with the span, the run and the gate's anomaly lines (to a webhook here;
    tests/test_alerts.py sends the same to a real Alertmanager)."""
    sink = WebhookSink()
    args = [
        "--alert-webhook-url",
        sink.url,
        "--data-root",
        world.config.data_root,
        "--pipeline-root",
        world.config.pipeline_root,
        "--serving-dir",
        world.config.serving_dir,
        "--window-spans",
        "3",
        "--no-prepare",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "local", "run", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Run summary: BLOCKED" in proc.stdout
    assert "feature 'payment_type'" in proc.stdout
    assert "stopped by the data validation gate" in proc.stderr
    (body,) = sink.wait(1, timeout=5)
    sink.close()
    (alert,) = body["alerts"]
    newest = max(existing_spans(world.data))
    assert alert["labels"] == {
        "alertname": "OpenctSpanBlocked",
        "pipeline": "openct",
        "severity": "critical",
        "span": str(newest),
    }
    assert "payment_type" in alert["annotations"]["description"] and alert["annotations"]["run"].endswith("manual")
    # The exit handler's task on Kubeflow (`openct alert`) reads the same from ML Metadata alone.
    run = alert["annotations"]["run"]
    sink = WebhookSink()
    assert (
        cli.main(["alert", "--run-id", run, "--metadata", world.config.metadata, "--alert-webhook-url", sink.url]) == 0
    )
    (body,) = sink.wait(1, timeout=5)
    sink.close()
    assert body["alerts"][0]["labels"] == alert["labels"]
    assert body["alerts"][0]["annotations"]["description"] == alert["annotations"]["description"]


def test_4c_a_quoted_header_is_refused_before_exampleGen_not_taken_for_new_columns(world):
    """Every field quoted (csv.QUOTE_ALL, as pandas and many exporters write): valid CSV, which TFX's
    CsvExampleGen read as columns named '"company"' etc. and the gate blocked as SCHEMA_NEW_COLUMN.
    Now refused before any node runs, naming the file and the header to write; nothing served changes."""
    served = world.versions()
    before = tree_digest(world.serving)
    number = existing_spans(world.data)[-1] + 1
    header, rows = read_span(world.data, 4)
    path = span_path(world.data, number)
    path.parent.mkdir()
    with open(path, "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows([header, *into_period(world, header, rows, 4, number)])
    try:
        summary = run_local(world.config)
        assert summary.status == "failed" and summary.reason.startswith("bad input:"), summary.format()
        assert str(path) in summary.reason and "quoted names" in summary.reason
        assert summary.reason.endswith(": " + ",".join(header)), summary.reason  # the header to write
        assert not summary.anomalies and world.versions() == served and tree_digest(world.serving) == before
    finally:
        path.unlink()
        path.parent.rmdir()


def test_5_worse_model_is_not_blessed_and_not_pushed(world):
    served = world.versions()
    before = tree_digest(world.serving)
    header, rows = world.fresh_rows(3)
    number = max(existing_spans(world.data)) + 1
    write_span(world.data, number, header, into_period(world, header, rows, 3, number))  # a good new span
    crippled = world.config.replace(train_steps=1, learning_rate=1e-7, warm_start=False)
    summary = run_local(crippled)
    assert summary.status == "not-blessed", summary.format()
    assert summary.has_baseline and summary.blessed is False
    assert any(f.startswith("auc") for f in summary.validation_failures), summary.validation_failures
    assert world.versions() == served and tree_digest(world.serving) == before


def test_6_status_and_history_answer_from_ml_metadata(world, capsys):
    """What was trained on what, what serves now, and why each run started and how it ended."""
    history = world.history()
    main_runs = [r for r in history if ":backfill-span" not in r.trigger]
    assert [r.outcome for r in main_runs[:2]] == ["pushed v1", "unchanged"]
    assert main_runs[2].trigger.startswith("new-span") and main_runs[2].trigger.endswith("-4")
    assert any(r.outcome == "blocked" for r in main_runs)
    assert all(r.seconds >= 0 for r in history)
    with lineage.open_store(world.config.metadata) as store:
        models = lineage.models(store, world.versions()[-1])
    first = models[0]
    assert first.spans == [1, 2, 3] and first.blessed and first.pushed_version == 1
    assert first.metrics["auc"] >= world.config.min_auc
    serving_now = [m for m in models if m.serving]
    assert len(serving_now) == 1 and serving_now[0].pushed_version == world.versions()[-1]
    assert any(m.blessed is False and m.pushed_version is None for m in models)  # scenario 5
    capsys.readouterr()
    assert cli.main(["ct", "status", *world.flags()[2:6]]) == 0
    status = capsys.readouterr().out
    assert "<- serving" in status and f"serving: v{world.versions()[-1]}, the newest push" in status
    assert cli.main(["ct", "history", *world.flags()[2:4]]) == 0
    assert main_runs[2].trigger in capsys.readouterr().out


def test_6b_columns_in_another_order_are_the_same_data(world):
    """Valid CSV with the columns in another order (what another exporter writes) is ingested as
    the same data: CsvExampleGen names columns from each file's own header, and every check and
    the schema go by name. Real trips of the sample's fifth quarter, columns reversed."""
    header, rows = world.fresh_rows(5)
    number = max(existing_spans(world.data)) + 1
    order = list(reversed(range(len(header))))
    moved = into_period(world, header, rows, 5, number)
    write_span(world.data, number, [header[i] for i in order], [[r[i] for i in order] for r in moved])
    summary = run_local(world.config)
    assert summary.ok and summary.anomalies == [] and summary.spans[-1] == number, summary.format()


def test_7_first_window_with_a_refused_older_span(tmp_path):
    """The back-fill ingests a first window's older spans together and judges them one by one: a
    refused span stops the run; the spans after it, ingested but never judged, are ingested and
    judged again by the next run (none is left out of every window unjudged)."""
    world = World(tmp_path)
    world.config = world.config.replace(window_spans=4)
    world.arrive(upto=4)

    def bitcoin(number: int) -> None:  # a value outside payment_type's curated domain
        header, rows = read_span(world.data, number)
        col = header.index("payment_type")
        rows = [r[:col] + ["Bitcoin" if i % 7 == 0 else r[col]] + r[col + 1 :] for i, r in enumerate(rows)]
        (world.data / f"span-{number}" / "data.csv").unlink()
        (world.data / f"span-{number}").rmdir()
        write_span(world.data, number, header, rows)

    bitcoin(2)
    bitcoin(4)  # the newest too: the second run stops at its gate instead of training
    first = run_local(world.config)
    assert first.status == "blocked" and "span 2 failed" in first.reason, first.format()
    assert first.ingested == [1, 2, 3]
    assert any("payment_type" in a for a in first.anomalies)
    with lineage.open_store(world.config.metadata) as store:
        assert lineage.judged_spans(store, world.config.pipeline_name) == {1, 2}

    second = run_local(world.config)
    assert second.status == "blocked" and "span 4 failed" in second.reason, second.format()
    assert second.ingested == [3, 4]  # span 3 again; 1 and 2 were judged
    with lineage.open_store(world.config.metadata) as store:
        assert lineage.judged_spans(store, world.config.pipeline_name) == {1, 2, 3, 4}
        validated = {r.custom_properties["span"].int_value for r in store.get_artifacts_by_type("openct.ValidatedSpan")}
    assert validated == {1, 3}


def serving_cli(world: World, *args: str) -> int:
    c = world.config
    flags = ["--serving-dir", c.serving_dir, "--pipeline-root", c.pipeline_root]
    return cli.main(["serving", args[0], *flags, *args[1:]])


def push_a_good_span(world: World, quarter: int) -> int:
    """A new span of real trips, run with the model gate's AUC drop allowance wide open (only the
    absolute thresholds judge): a push, whatever the baseline. Returns the pushed version."""
    header, rows = world.fresh_rows(quarter)
    number = max(existing_spans(world.data)) + 1
    write_span(world.data, number, header, into_period(world, header, rows, quarter, number))
    summary = run_local(world.config.replace(max_auc_drop=1.0))
    assert summary.status == "pushed", summary.format()
    return summary.pushed_version


def test_8_roll_back_pin_and_unpin_while_pushes_go_on(world, capsys):
    """Push, roll back to the version before, push again under the pin, unpin: TF Serving's model
    config says what serves at each step, every version stays, ct status and ct history tell."""
    from components import serving_config

    pushed = push_a_good_span(world, 6)
    before = pushed - 1
    assert serving.served_version(world.config.serving_dir, "taxi") == pushed
    capsys.readouterr()
    reason = f"v{pushed} mislabels night trips"
    assert serving_cli(world, "rollback", "--reason", reason, "--by", "oncall", "--url", "") == 0
    assert f"rollback: serving v{before}, canary v{pushed}, by oncall: {reason}" in capsys.readouterr().out
    state = serving_config.read(world.config.serving_dir, "taxi")
    assert state.versions == (before, pushed) and dict(state.labels) == {"stable": before, "canary": pushed}
    newer = push_a_good_span(world, 2)  # pushes land while the pin holds ...
    assert world.versions()[-2:] == [pushed, newer]
    assert serving.served_version(world.config.serving_dir, "taxi") == before  # ... and do not serve
    assert serving_cli(world, "status") == 0
    status = capsys.readouterr().out
    assert f"serving: v{before}, PINNED since" in status and f"by oncall (rollback: {reason})" in status, status
    assert f"pushed since, not served: v{pushed}, v{newer}" in status
    assert cli.main(["ct", "status", *world.flags()[2:6]]) == 0
    assert f"serving: v{before}, PINNED" in capsys.readouterr().out
    assert serving_cli(world, "unpin", "--reason", f"fixed in v{newer}", "--url", "") == 0
    assert serving_config.read(world.config.serving_dir, "taxi") == serving_config.UNPINNED
    assert serving.served_version(world.config.serving_dir, "taxi") == newer
    assert world.versions() == list(range(1, newer + 1))  # nothing deleted
    capsys.readouterr()
    assert cli.main(["ct", "history", *world.flags()[2:4]]) == 0
    history = capsys.readouterr().out
    assert "serving rollback" in history and f"by oncall: {reason}" in history
    assert "unpin: serving the newest push" in history


def test_9_the_trigger_policy_says_not_now_and_why(world, capsys):
    """Cooldown, daily budget and minimum rows each refuse a new span with exit 4 and their rule;
    the same span starts a run once the policy is off (the checks decide then)."""
    header, rows = world.fresh_rows(1)
    number = max(existing_spans(world.data)) + 1
    write_span(world.data, number, header, into_period(world, header, rows, 1, number))
    runs = len(world.history())
    for flag, value, rule in (
        ("--trigger-cooldown-minutes", "60", "cooldown"),
        ("--trigger-daily-runs", "2", "daily-budget"),
        ("--trigger-min-new-rows", str(len(rows) + 1), "min-new-rows"),
    ):
        assert cli.main(["ct", "trigger", *world.flags(), flag, value]) == cli.EXIT_NOTHING, rule
        out = capsys.readouterr().out
        assert f"decided by rule {rule}" in out and f"new span(s) {number}" in out, out
    assert len(world.history()) == runs  # nothing started
    assert "not before" in out or "waiting for more data" in out
    assert cli.main(["ct", "trigger", *world.flags()]) in (0, cli.EXIT_BLOCKED)
    assert len(world.history()) > runs
