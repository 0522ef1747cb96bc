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
