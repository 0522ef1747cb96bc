"""The dataset is configuration: a differently-shaped CSV runs through the same pipeline.

The test generates machine telemetry (other columns, other kinds, a 0/1 label, monthly spans),
writes a dataset spec JSON and a schema inferred by the project's own schema command, and runs
the unchanged pipeline: it must train, bless and push a model whose serving signature answers
requests without the label.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from pathlib import Path

import pytest
import tensorflow as tf

from pipelines.config import PipelineConfig
from pipelines.data.schema import write_candidate_schema
from pipelines.data.spans import cut_spans
from pipelines.runners.local import run_local

pytestmark = pytest.mark.e2e


def telemetry_csv(path: Path, rows_per_month: int = 250, months: int = 3) -> None:
    rng = random.Random(7)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["reading_time", "zone", "machine_id", "temperature", "load", "operator_note", "failed"])
        for month in range(months):
            start = dt.datetime(2024, 1 + month, 1, tzinfo=dt.UTC).timestamp()
            for _ in range(rows_per_month):
                zone = rng.choice(["north", "south", "east", "west"])
                temperature = rng.gauss(60, 10) + (8 if zone == "south" else 0)
                load = rng.random()
                risk = 0.08 * (temperature - 65) + 3 * (load - 0.5)
                failed = int(risk + rng.gauss(0, 0.7) > 0)
                w.writerow(
                    [
                        int(start) + rng.randrange(27 * 86400),
                        zone,
                        rng.randrange(1, 13),
                        f"{temperature:.2f}",
                        f"{load:.4f}",
                        rng.choice(["ok", "check", ""]),
                        failed,
                    ]
                )


def test_a_differently_shaped_dataset_needs_only_configuration(tmp_path):
    source = tmp_path / "telemetry.csv"
    telemetry_csv(source)
    spec = {
        "name": "telemetry",
        "source": "telemetry.csv",
        "timestamp_column": "reading_time",
        "label": {"column": "failed", "threshold": 0.5, "name": "will_fail"},
        "numeric": ["temperature"],
        "bucketized": ["load"],
        "categorical": {"zone": 4, "machine_id": 12},
        "slice_by": ["zone"],
        "schema_file": "telemetry.pbtxt",
        "bucket_count": 4,
    }
    (tmp_path / "telemetry.json").write_text(json.dumps(spec))
    config = PipelineConfig(
        dataset=str(tmp_path / "telemetry.json"),
        data_root=str(tmp_path / "data"),
        pipeline_root=str(tmp_path / "pipeline"),
        serving_dir=str(tmp_path / "serving"),
        span_months=1,
        window_spans=3,
        train_steps=300,
    )
    written, _ = cut_spans(source, config.data_root, "reading_time", span_months=1)
    assert [s.number for s in written] == [1, 2, 3]
    # The reviewed schema starts from the schema command's inference (here accepted as is);
    # the command never writes over the curated file.
    with pytest.raises(ValueError, match="refusing to overwrite the curated schema"):
        write_candidate_schema(config.spec, config.data_root, tmp_path / "telemetry.pbtxt")
    report = write_candidate_schema(config.spec, config.data_root, tmp_path / "candidate.pbtxt")
    assert "no curated schema" in report
    (tmp_path / "telemetry.pbtxt").write_text((tmp_path / "candidate.pbtxt").read_text())
    summary = run_local(config)
    assert summary.status == "pushed", summary.format()
    assert summary.spans == [1, 2, 3]
    assert summary.metrics["candidate"]["auc"] > 0.7
    assert config.served_model_name == "telemetry"

    served = tf.saved_model.load(summary.pushed_path).signatures["serving_default"]
    request = tf.train.Example(
        features=tf.train.Features(
            feature={
                "zone": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"south"])),
                "machine_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
                "temperature": tf.train.Feature(float_list=tf.train.FloatList(value=[85.0])),
                "load": tf.train.Feature(float_list=tf.train.FloatList(value=[0.9])),
            }
        )
    ).SerializeToString()
    hot = float(served(examples=tf.constant([request]))["probabilities"].numpy()[0, 0])
    assert 0.5 < hot <= 1.0  # a hot, loaded machine is predicted to fail


def weather_csv(path: Path, years: int = 4) -> None:
    """A daily weather record (dates as YYYY/MM/DD, a categorical `weather` column), 4 years."""
    rng = random.Random(11)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["DATE", "precipitation", "temp_max", "temp_min", "wind", "station", "weather"])
        day = dt.date(2012, 1, 1)
        while day < dt.date(2012 + years, 1, 1):
            season = -math.cos(2 * math.pi * day.timetuple().tm_yday / 365)
            humid = rng.random()
            precipitation = max(0.0, rng.gauss(4 * humid - 1.2, 1.5))
            temp_max = 15 + 10 * season + rng.gauss(0, 3)
            weather = (
                "rain" if precipitation > 1.0 and rng.random() < 0.9 else rng.choice(["sun", "sun", "fog", "drizzle"])
            )
            w.writerow(
                [
                    f"{day:%Y/%m/%d}",
                    f"{precipitation:.1f}",
                    f"{temp_max:.1f}",
                    f"{temp_max - 8 - 4 * humid:.1f}",
                    f"{rng.uniform(0.5, 8):.1f}",
                    rng.choice(["airport", "harbour"]),
                    weather,
                ]
            )
            day += dt.timedelta(days=1)


def test_your_own_csv_in_three_commands(tmp_path, capfd):
    """README's "Your own CSV", as a new user runs it: a dated CSV with a categorical label goes
    from `openct data draft` to a pushed model by `openct local run`; the data root keeps its
    span layout, so a later command without --span-months adds no second set of spans."""
    from pipelines import cli

    source, spec, data = tmp_path / "weather.csv", str(tmp_path / "weather.json"), tmp_path / "weather" / "data"
    weather_csv(source)

    def span_dirs() -> list[str]:
        return sorted(p.parent.name for p in data.glob("span-*/data.csv"))

    draft = ["data", "draft", str(source), "--time-column", "DATE", "--time-format", "%Y/%m/%d"]
    assert cli.main([*draft, "--label", "weather==rain", "--span-months", "6", "--data-root", str(data)]) == 0
    out = capfd.readouterr().out
    assert "precipitation  numeric" in out and "station        categorical" in out and "DATE" in out
    assert len(span_dirs()) == 8  # 4 years of 6-month spans
    cut = span_dirs()
    next_command = [line for line in out.splitlines() if line.startswith("next: openct ")][0].split()[2:]
    # README's old trap: `data schema` without --span-months must not cut a second set of spans
    schema = ["data", "schema", "--dataset", spec, "--data-root", str(data), "--output", str(tmp_path / "c.pbtxt")]
    assert cli.main(schema) == 0 and span_dirs() == cut
    spans = ["data", "spans", "--dataset", spec, "--data-root", str(data), "--span-months", "3"]
    assert cli.main(spans) == cli.EXIT_FAILED and span_dirs() == cut
    assert "span_months=3 (recorded: 6)" in capfd.readouterr().err
    run = [*next_command, "--window-spans", "3", "--train-steps", "300"]
    assert cli.main([*run, "--summary-json", str(tmp_path / "summary.json")]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "pushed" and summary["spans"] == [6, 7, 8]
    assert summary["metrics"]["candidate"]["auc"] > 0.7  # rain follows precipitation
