"""SpanBatchExampleGen and SpanBatchStatisticsGen against TFX's own CsvExampleGen and
StatisticsGen, run on the same spans: the batch components must produce what N executions of
TFX's components produce (records, statistics, artifact properties), one artifact per span."""

from __future__ import annotations

import csv
import glob
import importlib.resources
import json
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen.csv_example_gen.executor import Executor as CsvExampleGenExecutor
from tfx.components.statistics_gen.executor import Executor as StatisticsGenExecutor
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components import span_batch
from components.artifacts import EXAMPLES_ID, span_of, str_prop
from components.span_batch import SpanBatchExampleGenExecutor, SpanBatchStatisticsGenExecutor, span_groups

PATTERN = "span-{SPAN}/data.csv"  # as pipelines.data.spans.SPAN_PATTERN
SPLITS = example_gen_pb2.Output(
    split_config=example_gen_pb2.SplitConfig(
        splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
        ]
    )
)
TAXI_CSV = importlib.resources.files("tfx").joinpath("examples/chicago_taxi_pipeline/data/simple/data.csv")
STATS_OPTIONS = tfdv.StatsOptions(use_sketch_based_topk_uniques=True).to_json()  # as dag.py


@pytest.fixture(scope="module")
def spans(tmp_path_factory) -> Path:
    """Three spans of the taxi sample. Span 2's `fare` holds whole numbers only, so CsvExampleGen
    infers INT there and FLOAT elsewhere; span 3 lacks the `company` column (another header)."""
    root = tmp_path_factory.mktemp("spans")
    with TAXI_CSV.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [next(reader) for _ in range(600)]
    fare, company = header.index("fare"), header.index("company")
    for span, chunk in ((1, rows[:200]), (2, rows[200:400]), (3, rows[400:])):
        out_header, out_rows = header, chunk
        if span == 2:
            out_rows = [[*r[:fare], str(int(float(r[fare] or 0))), *r[fare + 1 :]] for r in chunk]
        if span == 3:
            out_header = [c for i, c in enumerate(header) if i != company]
            out_rows = [[c for i, c in enumerate(r) if i != company] for r in chunk]
        (root / f"span-{span}").mkdir()
        with open(root / f"span-{span}" / "data.csv", "w", newline="") as f:
            csv.writer(f).writerows([out_header, *out_rows])
    return root


def _tfx_example_gen(input_base: Path, span: int, out: Path) -> standard_artifacts.Examples:
    """One span through TFX's FileBasedDriver (span, fingerprint) and CsvExampleGen's executor."""
    properties = {
        "input_base": str(input_base),
        "input_config": proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern=PATTERN)])
        ),
        "output_config": proto_utils.proto_to_json(SPLITS),
        "range_config": proto_utils.proto_to_json(
            range_config_pb2.RangeConfig(
                static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
            )
        ),
        # what the CsvExampleGen component passes by default (tfx example_gen/component.py)
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    properties = example_gen_driver.FileBasedDriver(None).resolve_exec_properties(properties, None, None)
    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    example_gen_driver.update_output_artifact(properties, examples.mlmd_artifact)
    CsvExampleGenExecutor().Do({}, {"examples": [examples]}, properties)
    return examples


def _records(examples, split: str) -> list[bytes]:
    files = glob.glob(str(Path(artifact_utils.get_split_uri([examples], split)) / "*"))
    parsed = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        parsed.append(example.SerializeToString(deterministic=True))  # map order is not stable
    return sorted(parsed)


def _stats(statistics, split: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    path = Path(artifact_utils.get_split_uri([statistics], split)) / "FeatureStats.pb"
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())


def _batch_example_gen(spans: Path, uri: Path, context) -> list[standard_artifacts.Examples]:
    """SpanBatchExampleGen's executor over spans 1-3, its output artifact at `uri`."""
    template = standard_artifacts.Examples()
    template.uri = str(uri)
    out = {"examples": [template]}
    properties = {
        "input_base": str(spans),
        "pattern": PATTERN,
        "spans": json.dumps({"1": "", "2": "", "3": ""}),
        "output_config": proto_utils.proto_to_json(SPLITS),
    }
    SpanBatchExampleGenExecutor(context).Do({}, out, properties)
    return out["examples"]


@pytest.fixture(scope="module")
def produced(spans, tmp_path_factory):
    """(TFX's per-span Examples and statistics, the batch components' ones), by span."""
    out = tmp_path_factory.mktemp("out")
    tfx_examples, tfx_stats = {}, {}
    for span in (1, 2, 3):
        tfx_examples[span] = _tfx_example_gen(spans, span, out / "tfx" / f"examples-{span}")
        stats = standard_artifacts.ExampleStatistics()
        stats.uri = str(out / "tfx" / f"statistics-{span}")
        StatisticsGenExecutor().Do(
            {"examples": [tfx_examples[span]]}, {"statistics": [stats]}, {"stats_options_json": STATS_OPTIONS}
        )
        tfx_stats[span] = stats

    context = BaseBeamExecutor.Context(tmp_dir=str(out / "tmp"), unique_id="1")
    batch_examples = {"examples": _batch_example_gen(spans, out / "batch" / "examples", context)}
    for i, examples in enumerate(batch_examples["examples"]):
        examples.id = 100 + i  # as ML Metadata would number them once published
    template = standard_artifacts.ExampleStatistics()
    template.uri = str(out / "batch" / "statistics")
    batch_stats = {"statistics": [template]}
    SpanBatchStatisticsGenExecutor(context).Do(
        {"examples": batch_examples["examples"]}, batch_stats, {"stats_options_json": STATS_OPTIONS}
    )
    return (tfx_examples, tfx_stats), (batch_examples["examples"], batch_stats["statistics"])


def test_one_examples_artifact_per_span_under_the_launchers_uri(produced):
    _, (examples, statistics) = produced
    assert [span_of(e) for e in examples] == [1, 2, 3]
    # TFX publishes several artifacts for one key only as direct sub-directories of its artifact
    assert [Path(e.uri).parent.name for e in examples] == ["examples"] * 3
    assert [Path(s.uri).name for s in statistics] == ["span-1", "span-2", "span-3"]
    assert [s.get_int_custom_property(EXAMPLES_ID) for s in statistics] == [100, 101, 102]
    assert [span_of(s) for s in statistics] == [1, 2, 3]


def test_examples_equal_csv_example_gen_record_for_record(produced):
    (tfx_examples, _), (examples, _) = produced
    for batch in examples:
        reference = tfx_examples[span_of(batch)]
        for split in ("train", "eval"):
            assert _records(batch, split) == _records(reference, split), (span_of(batch), split)
            assert _records(batch, split)  # not two empty lists


def test_column_types_are_inferred_per_span(produced):
    """Span 2's whole-number fares are ints, as CsvExampleGen infers from that span alone."""
    _, (examples, _) = produced
    kinds = {}
    for batch in examples:
        example = tf.train.Example.FromString(_records(batch, "train")[0])
        kinds[span_of(batch)] = example.features.feature["fare"].WhichOneof("kind")
    assert kinds == {1: "float_list", 2: "int64_list", 3: "float_list"}


def test_artifact_properties_equal_csv_example_gen(produced):
    (tfx_examples, _), (examples, _) = produced
    for batch in examples:
        reference = tfx_examples[span_of(batch)]
        for name in ("split_names", "input_fingerprint", "payload_format", "file_format"):
            assert str_prop(batch, name) == str_prop(reference, name), name
        assert str_prop(batch, "input_fingerprint").startswith("split:single_split,num_files:1,")


def test_statistics_equal_statistics_gen(produced):
    (_, tfx_stats), (examples, statistics) = produced
    for batch, stats in zip(examples, statistics, strict=True):
        reference = tfx_stats[span_of(batch)]
        assert str_prop(stats, "split_names") == str_prop(reference, "split_names")
        for split in ("train", "eval"):
            ours, theirs = _stats(stats, split), _stats(reference, split)
            assert ours == theirs, (span_of(batch), split)
            assert ours.datasets[0].num_examples > 0


def test_a_bad_row_names_the_span_file(spans, tmp_path):
    bad = tmp_path / "in"
    (bad / "span-7").mkdir(parents=True)
    text = (spans / "span-1" / "data.csv").read_text().splitlines()
    (bad / "span-7" / "data.csv").write_text("\n".join([*text[:5], "1,2", *text[5:]]) + "\n")
    template = standard_artifacts.Examples()
    template.uri = str(tmp_path / "examples")
    executor = SpanBatchExampleGenExecutor(BaseBeamExecutor.Context(tmp_dir=str(tmp_path / "tmp"), unique_id="1"))
    with pytest.raises(Exception, match=r"span-7/data\.csv: a row has 2 fields, the header 18"):
        executor.Do(
            {},
            {"examples": [template]},
            {
                "input_base": str(bad),
                "pattern": PATTERN,
                "spans": '{"7": ""}',
                "output_config": proto_utils.proto_to_json(SPLITS),
            },
        )


def test_empty_splits_equal_csv_example_gen_and_statistics_gen(tmp_path):
    """A span with a header only, and one whose single row leaves the eval split empty: each
    split gets one empty file and one empty statistics dataset, as TFX's components write them
    (ExampleValidator then reports the data as missing and the gate refuses the span)."""
    lines = TAXI_CSV.read_text().splitlines()
    for span, rows in ((1, 0), (2, 1)):
        (tmp_path / "in" / f"span-{span}").mkdir(parents=True)
        (tmp_path / "in" / f"span-{span}" / "data.csv").write_text("\n".join(lines[: 1 + rows]) + "\n")
    context = BaseBeamExecutor.Context(tmp_dir=str(tmp_path / "tmp"), unique_id="1")
    template = standard_artifacts.Examples()
    template.uri = str(tmp_path / "batch")
    examples = {"examples": [template]}
    properties = {"input_base": str(tmp_path / "in"), "pattern": PATTERN, "spans": '{"1": "", "2": ""}'}
    SpanBatchExampleGenExecutor(context).Do(
        {}, examples, {**properties, "output_config": proto_utils.proto_to_json(SPLITS)}
    )
    for i, batch in enumerate(examples["examples"]):
        batch.id = 10 + i
    template = standard_artifacts.ExampleStatistics()
    template.uri = str(tmp_path / "batch-statistics")
    statistics = {"statistics": [template]}
    SpanBatchStatisticsGenExecutor(context).Do(
        {"examples": examples["examples"]}, statistics, {"stats_options_json": STATS_OPTIONS}
    )
    for batch, stats in zip(examples["examples"], statistics["statistics"], strict=True):
        span = span_of(batch)
        reference = _tfx_example_gen(tmp_path / "in", span, tmp_path / "tfx" / str(span))
        reference_stats = standard_artifacts.ExampleStatistics()
        reference_stats.uri = str(tmp_path / "tfx" / f"statistics-{span}")
        StatisticsGenExecutor().Do(
            {"examples": [reference]}, {"statistics": [reference_stats]}, {"stats_options_json": STATS_OPTIONS}
        )
        for split in ("train", "eval"):
            files = glob.glob(str(Path(artifact_utils.get_split_uri([batch], split)) / "*"))
            assert len(files) == 1, (span, split)
            assert _records(batch, split) == _records(reference, split), (span, split)
            assert _stats(stats, split) == _stats(reference_stats, split), (span, split)
    assert _stats(statistics["statistics"][0], "train").datasets[0].num_examples == 0
    assert _stats(statistics["statistics"][1], "eval").datasets[0].num_examples == 0


def test_spans_are_grouped_by_bytes_in_order():
    sizes = {1: 30, 2: 30, 3: 50, 4: 200, 5: 10}
    assert span_groups([1, 2, 3, 4, 5], sizes, limit=100) == [[1, 2], [3], [4], [5]]
    assert span_groups([1, 2, 3, 4, 5], sizes, limit=1000) == [[1, 2, 3, 4, 5]]


def test_one_pipeline_per_span_writes_what_csv_example_gen_writes(spans, produced, tmp_path, monkeypatch):
    """The memory bound (MAX_PIPELINE_BYTES) splits the spans over several Beam pipelines: each
    span's records are still CsvExampleGen's."""
    (tfx_examples, _), _ = produced
    monkeypatch.setattr(span_batch, "MAX_PIPELINE_BYTES", 1)
    context = BaseBeamExecutor.Context(tmp_dir=str(tmp_path / "tmp"), unique_id="1")
    examples = _batch_example_gen(spans, tmp_path / "examples", context)
    assert sorted(Path(tmp_path, "tmp", "1").iterdir()) == [Path(tmp_path, "tmp", "1", f"write-{i}") for i in range(3)]
    for batch in examples:
        for split in ("train", "eval"):
            assert _records(batch, split) == _records(tfx_examples[span_of(batch)], split), (span_of(batch), split)
