"""Ingest several spans in one execution: one Examples and one statistics artifact per span.

A fresh store's first window holds many older spans. TFX 1.21's CsvExampleGen reads one span per
execution (a span range must start and end on the same span:
`components/example_gen/input_processor.py:42-47`), and one input split per span cannot also be
hash-split into train and eval (`base_example_gen_executor.py:190-193`). Ingesting N spans with N
executions of CsvExampleGen and StatisticsGen costs N times their Beam stages: Beam's cost here is
per stage, not per pipeline (measured on 15 spans: 15 pipelines 5.6 s, one pipeline holding the
same 15 chains 5.4 s). These two components build ONE chain of stages for all spans, keyed by span
(and split; ExampleGen's in pipelines of at most MAX_PIPELINE_BYTES of CSV, for memory), and still
publish one artifact per span, so the training window, the gate and
lineage see exactly what CsvExampleGen and StatisticsGen would have produced:

- `SpanBatchExampleGen`: TFX's CSV reading, parsing, column-type inference (per span, as
  CsvExampleGen infers per execution), tf.Example conversion and hash partition, the same
  shuffle, then Beam's `fileio.WriteToFiles` with one destination per (span, split). The
  Examples equal CsvExampleGen's record for record (`span_batch_test.py`), with the same
  artifact properties (span, input fingerprint, split names, payload and file format).
- `SpanBatchStatisticsGen`: TFDV's statistics over every (span, split) at once, as TFDV slices
  (`GenerateSlicedStatisticsImpl`, what `tfdv.GenerateStatistics` runs after keying each batch by
  its slice: tensorflow_data_validation 1.21 statistics/stats_impl.py), then one
  `FeatureStats.pb` per split per span, equal to StatisticsGen's.

TFX publishes several artifacts for one output key when each one's URI is a direct
sub-directory of the artifact the launcher created (tfx 1.21
orchestration/portable/merge_utils.py:63-92, 177-195): here `<uri>/span-<N>`.

Only the local runner's back-fill of a first window uses them (pipelines.pipeline.dag); a
continuous-training run ingests its one new span with CsvExampleGen and StatisticsGen.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from collections.abc import Iterator

import apache_beam as beam
import pyarrow as pa
import tensorflow_data_validation as tfdv
from apache_beam.io import fileio as beam_fileio
from apache_beam.io import filesystem
from apache_beam.io.filesystems import FileSystems

# Beam's TFRecord framing (length, masked CRC32C, data, masked CRC32C), what WriteToTFRecord and
# ReadFromTFRecord use (apache_beam/io/tfrecordio.py); fileio.WriteToFiles needs a FileSink.
from apache_beam.io.tfrecordio import _TFRecordUtil
from apache_beam.options.value_provider import StaticValueProvider
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.base_example_gen_executor import _PartitionFn
from tfx.components.example_gen.csv_example_gen.executor import (
    _ParsedCsvToTfExample,
    _ReadCsvRecordsFromTextFile,
)
from tfx.components.statistics_gen.executor import DEFAULT_FILE_NAME as STATS_FILE
from tfx.components.statistics_gen.executor import SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME, STATS_DASHBOARD_LINK
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor, base_component, executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter
from tfx.utils import io_utils, json_utils, proto_utils
from tfx_bsl.coders import csv_decoder, example_coder

from components.artifacts import EXAMPLES_ID, span_of

INPUT_SPLIT = "single_split"  # the input split's name, as CsvExampleGen's fingerprint records it
RECORD_FILE = "data_tfrecord"  # CsvExampleGen's file names (tfx example_gen/write_split.py)
# The batch TFXIO's BeamSource decodes at most (tfx_bsl 1.21 coders/batch_util.py: 1,000).
DECODE_BATCH = 1000


def child_artifact(template: types.Artifact, name: str) -> types.Artifact:
    """A new artifact like the launcher's `template` (type, tfx_version...), at `<uri>/<name>`:
    the URI TFX requires of each of several artifacts published for one output key."""
    child = copy.deepcopy(template)
    child.mlmd_artifact.ClearField("id")
    child.uri = os.path.join(template.uri, name)
    return child


def span_file(input_base: str, pattern: str, span: int) -> str:
    """The span's file: `pattern` (CsvExampleGen's, with `{SPAN}`) filled in as its driver fills
    it (tfx example_gen/utils.py get_pattern_for_span_version)."""
    return os.path.join(
        input_base, example_gen_utils.get_pattern_for_span_version(pattern, True, False, False, span, None)
    )


def input_fingerprint(input_base: str, pattern: str, span: int) -> str:
    """What CsvExampleGen's driver records as `input_fingerprint` for the span's one input split
    (tfx utils/io_utils.py generate_fingerprint: files, bytes, mtimes)."""
    return io_utils.generate_fingerprint(INPUT_SPLIT, span_file(input_base, pattern, span))


# --- SpanBatchExampleGen ------------------------------------------------------------------------


class SpanBatchExampleGenSpec(ComponentSpec):
    PARAMETERS = {
        "input_base": ExecutionParameter(type=str),
        "pattern": ExecutionParameter(type=str),  # a span's file under input_base, with {SPAN}
        # JSON {span: input fingerprint}: the fingerprints make changed files a cache miss, as
        # CsvExampleGen's driver does by adding its fingerprint to the execution's properties.
        "spans": ExecutionParameter(type=str),
        "output_config": ExecutionParameter(type=example_gen_pb2.Output),
    }
    INPUTS: dict[str, ChannelParameter] = {}
    OUTPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}


class _TFRecordSink(beam_fileio.FileSink):
    """Writes each (destination, serialized Example) element's record, gzip-compressed as
    CsvExampleGen's files are (`.gz`: readers detect the compression from the name)."""

    def create_metadata(self, destination: str, full_file_name: str) -> beam_fileio.FileMetadata:
        return beam_fileio.FileMetadata(
            mime_type="application/octet-stream", compression_type=filesystem.CompressionTypes.GZIP
        )

    def open(self, fh: filesystem.CompressedFile) -> None:
        self._fh = fh

    def write(self, record: tuple[str, bytes]) -> None:
        _TFRecordUtil.write_record(self._fh, record[1])

    def flush(self) -> None:
        # WriteToFiles calls flush() and then closes the file (beam 2.77 io/fileio.py:956-957,
        # 1057-1058). A gzip file's flush() ends the compressed stream (io/filesystem.py:333-337)
        # and close() ends it again: zlib "inconsistent stream state" (measured). close() alone
        # writes everything.
        pass


def _file_name(window, pane, shard_index, total_shards, compression, destination) -> str:
    return f"{destination}/{RECORD_FILE}-{shard_index:05d}-of-{total_shards:05d}.gz"


def _write_if_empty(base: str, destination: str) -> None:
    """An empty split (a span with no rows, or too few to fill every split) gets one empty
    shard, as CsvExampleGen's WriteToTFRecord writes (measured); WriteToFiles writes no file for
    a destination without records, and readers of the split would find nothing to read."""
    if not fileio.glob(os.path.join(base, destination, "*")):
        path = os.path.join(base, _file_name(None, None, 0, 1, None, destination))
        FileSystems.create(path, compression_type=filesystem.CompressionTypes.GZIP).close()


class _ReadSpanRecords(beam.DoFn):
    """(span, path) -> (span, CSV record), with CsvExampleGen's reader (header skipped,
    multi-line quoted fields joined)."""

    def process(self, item):
        span, path = item
        for record in _ReadCsvRecordsFromTextFile().process(path):
            yield span, record


class _ParseSpanRecords(beam.DoFn):
    """(span, CSV record) -> (span, cells), with CsvExampleGen's parser; a row whose field count
    differs from the header's is an error naming the span's file (TFX's own names neither)."""

    def __init__(self, paths: dict[int, str], width: int):
        self._paths, self._width = paths, width

    def setup(self):
        self._parser = csv_decoder.ParseCSVLine(delimiter=",")
        self._parser.setup()

    def process(self, item):
        span, record = item
        for cells, _ in self._parser.process(record):
            if cells and len(cells) != self._width:  # a blank line parses to no cells: skipped
                raise ValueError(f"{self._paths[span]}: a row has {len(cells)} fields, the header {self._width}")
            yield span, cells


class _ToSplitExample(beam.DoFn):
    """(span, cells) -> ("span-<N>/Split-<name>", serialized tf.Example): CsvExampleGen's
    conversion with the span's inferred column types, then its hash partition."""

    def __init__(self, paths: dict[int, str], split_config: example_gen_pb2.SplitConfig):
        self._paths = paths
        self._split_config = split_config
        self._names = [s.name for s in split_config.splits]
        # cumulative bucket bounds, as CsvExampleGen's GenerateExamplesByBeam computes them
        self._buckets = list(itertools.accumulate(s.hash_buckets for s in split_config.splits))
        self._converters: dict[int, _ParsedCsvToTfExample] = {}

    def process(self, item, column_infos):
        span, cells = item
        converter = self._converters.setdefault(span, _ParsedCsvToTfExample())  # caches the span's handlers
        try:
            examples = list(converter.process(cells, column_infos[span]))
        except ValueError as bad:  # TFX's message does not name the file
            raise ValueError(f"{self._paths[span]}: {bad}") from bad
        for example in examples:
            index = _PartitionFn(example, len(self._buckets), self._buckets, self._split_config)
            yield f"span-{span}/Split-{self._names[index]}", example.SerializeToString()


MAX_PIPELINE_BYTES = 40_000_000  # CSV bytes per Beam pipeline: ~1.3 GB peak (SpanBatchExampleGenExecutor.Do)


def span_groups(spans: list[int], sizes: dict[int, int], limit: int | None = None) -> list[list[int]]:
    """Consecutive spans in groups of at most `limit` bytes (MAX_PIPELINE_BYTES); a larger span
    is a group of its own."""
    limit = MAX_PIPELINE_BYTES if limit is None else limit
    groups: list[list[int]] = []
    total = 0
    for span in spans:
        if groups and total + sizes[span] <= limit:
            groups[-1].append(span)
            total += sizes[span]
        else:
            groups.append([span])
            total = sizes[span]
    return groups


class SpanBatchExampleGenExecutor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict: dict, output_dict: dict[str, list[types.Artifact]], exec_properties: dict) -> None:
        input_base, pattern = exec_properties["input_base"], exec_properties["pattern"]
        spans = sorted(int(s) for s in json.loads(exec_properties["spans"]))
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties["output_config"], output_config)
        split_config = output_config.split_config
        split_names = [s.name for s in split_config.splits]
        template = artifact_utils.get_single_instance(output_dict["examples"])
        paths = {span: span_file(input_base, pattern, span) for span in spans}

        artifacts = []
        for span in spans:
            examples = child_artifact(template, f"span-{span}")
            examples.split_names = artifact_utils.encode_split_names(split_names)
            examples.set_int_custom_property(example_gen_utils.SPAN_PROPERTY_NAME, span)
            examples.set_string_custom_property(
                example_gen_utils.FINGERPRINT_PROPERTY_NAME, input_fingerprint(input_base, pattern, span)
            )
            examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
            examples_utils.set_file_format(examples, "tfrecords_gzip")
            for split in split_names:
                # WriteToFiles moves its files into `path` but makes no sub-directories
                fileio.makedirs(os.path.join(examples.uri, f"Split-{split}"))
            artifacts.append(examples)

        # Bounded memory: the in-process runner holds each stage's whole output (the parsed cells
        # wait for the column types; the Reshuffle holds every Example), so the peak grows with the
        # CSV bytes of one Beam pipeline: 4,889 MB for 300 MB (1.5 million rows, 16 spans) in one.
        # Spans go through pipelines of at most MAX_PIPELINE_BYTES each (at least one span).
        for i, group in enumerate(span_groups(spans, {span: fileio.stat(paths[span]).length for span in spans})):
            self._ingest(group, paths, split_config, template.uri, f"write-{i}")
        for span in spans:
            for split in split_names:
                _write_if_empty(template.uri, f"span-{span}/Split-{split}")
        output_dict["examples"][:] = artifacts

    def _ingest(
        self,
        spans: list[int],
        paths: dict[int, str],
        split_config: example_gen_pb2.SplitConfig,
        base: str,
        temp_name: str,
    ) -> None:
        """One Beam pipeline over `spans`: read, parse, convert, partition, shuffle, write."""
        split_names = [s.name for s in split_config.splits]
        # Spans with the same header share one chain; CsvExampleGen checks that one execution's
        # files share a header, and a span whose columns changed is the gate's to judge.
        by_header: dict[tuple[str, ...], list[int]] = {}
        for span in spans:
            by_header.setdefault(tuple(io_utils.load_csv_column_names(paths[span])), []).append(span)

        with self._make_beam_pipeline() as pipeline:
            keyed = []
            for i, (header, group) in enumerate(sorted(by_header.items(), key=lambda kv: kv[1][0])):
                cells = (
                    pipeline
                    | f"Files[{i}]" >> beam.Create([(span, paths[span]) for span in group])
                    | f"ReadFromText[{i}]" >> beam.ParDo(_ReadSpanRecords())
                    | f"ParseCSVLine[{i}]" >> beam.ParDo(_ParseSpanRecords(paths, len(header)))
                )
                column_infos = beam.pvalue.AsDict(
                    cells
                    | f"InferColumnTypes[{i}]"
                    >> beam.CombinePerKey(csv_decoder.ColumnTypeInferrer(list(header), skip_blank_lines=True))
                )
                keyed.append(
                    cells | f"ToTFExample[{i}]" >> beam.ParDo(_ToSplitExample(paths, split_config), column_infos)
                )
            _ = (
                keyed
                | "Flatten" >> beam.Flatten()
                | "Shuffle" >> beam.Reshuffle()  # as CsvExampleGen's WriteSplit does before writing
                | "Write"
                >> beam_fileio.WriteToFiles(
                    path=base,
                    destination=lambda element: element[0],
                    sink=lambda destination: _TFRecordSink(),
                    file_naming=_file_name,
                    temp_directory=StaticValueProvider(str, os.path.join(self._get_tmp_dir(), temp_name)),
                    # one writer per destination: no spilling, hence one file per split
                    max_writers_per_bundle=len(spans) * len(split_names),
                )
            )


class SpanBatchExampleGen(base_component.BaseComponent):
    """CsvExampleGen over several spans (`<input_base>/<pattern>`, `{SPAN}` filled in) at once:
    one Examples artifact per span, hash-split by `output_config` as CsvExampleGen splits."""

    SPEC_CLASS = SpanBatchExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(SpanBatchExampleGenExecutor)

    def __init__(self, input_base: str, pattern: str, spans: list[int], output_config: example_gen_pb2.Output):
        fingerprints = {str(span): input_fingerprint(input_base, pattern, span) for span in sorted(spans)}
        super().__init__(
            spec=SpanBatchExampleGenSpec(
                input_base=input_base,
                pattern=pattern,
                spans=json.dumps(fingerprints, sort_keys=True),
                output_config=output_config,
                examples=types.Channel(type=standard_artifacts.Examples),
            )
        )


# --- SpanBatchStatisticsGen ---------------------------------------------------------------------


class SpanBatchStatisticsGenSpec(ComponentSpec):
    PARAMETERS = {"stats_options_json": ExecutionParameter(type=str, optional=True)}
    INPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}
    OUTPUTS = {"statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics)}


class _DecodeFile(beam.DoFn):
    """(slice key, TFRecord file) -> (slice key, RecordBatch) per DECODE_BATCH records, decoded
    as StatisticsGen's TFXIO decodes them without a schema (types inferred from the data)."""

    def setup(self) -> None:
        self._decoder = example_coder.ExamplesToRecordBatchDecoder()

    def process(self, item: tuple[str, str]) -> Iterator[tuple[str, pa.RecordBatch]]:
        key, path = item
        batch: list[bytes] = []
        with FileSystems.open(path, compression_type=filesystem.CompressionTypes.AUTO) as f:
            while (record := _TFRecordUtil.read_record(f)) is not None:
                batch.append(record)
                if len(batch) == DECODE_BATCH:
                    yield key, self._decoder.DecodeBatch(batch)
                    batch = []
        if batch:
            yield key, self._decoder.DecodeBatch(batch)


class SpanBatchStatisticsGenExecutor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict: dict, output_dict: dict[str, list[types.Artifact]], exec_properties: dict) -> None:
        examples = sorted(input_dict["examples"], key=span_of)
        if len({span_of(e) for e in examples}) != len(examples):
            raise ValueError(f"one Examples artifact per span expected, got spans {[span_of(e) for e in examples]}")
        options = tfdv.StatsOptions()
        if exec_properties.get("stats_options_json"):
            options = tfdv.StatsOptions.from_json(exec_properties["stats_options_json"])
        if options.sample_rate is not None:
            raise ValueError("SpanBatchStatisticsGen computes statistics over every example (no sample_rate)")
        template = artifact_utils.get_single_instance(output_dict["statistics"])

        files: list[tuple[str, str]] = []  # (slice key, file)
        targets: dict[str, str] = {}  # slice key -> FeatureStats.pb to write
        artifacts = []
        for i, source in enumerate(examples):
            splits = artifact_utils.decode_split_names(source.split_names)
            statistics = child_artifact(template, f"span-{span_of(source)}")
            statistics.split_names = artifact_utils.encode_split_names(splits)
            # StatisticsGen copies `examples.span` (statistics_gen/executor.py), which reads 0 since
            # TFX 1.21's ExampleGen records the span as a custom property (components.artifacts);
            # the span it means to copy is set here.
            statistics.span = span_of(source)
            statistics.set_int_custom_property(EXAMPLES_ID, source.id)
            statistics.set_string_custom_property(STATS_DASHBOARD_LINK, "")
            statistics.set_json_value_custom_property(
                SAMPLE_RATE_BY_SPLIT_PROPERTY_NAME,
                json_utils.dumps({split: options.sample_rate or 1.0 for split in splits}),
            )
            for split in splits:
                key = f"{i}/{split}"
                split_dir = artifact_utils.get_split_uri([source], split)
                files += [(key, path) for path in sorted(fileio.glob(os.path.join(split_dir, "*")))]
                targets[key] = os.path.join(statistics.uri, f"Split-{split}", STATS_FILE)
            artifacts.append(statistics)

        combined = os.path.join(self._get_tmp_dir(), "statistics.pb")
        with self._make_beam_pipeline() as pipeline:
            _ = (
                pipeline
                | "Files" >> beam.Create(files)
                | "Decode" >> beam.ParDo(_DecodeFile())
                | "GenerateStatistics" >> stats_impl.GenerateSlicedStatisticsImpl(options, is_slicing_enabled=True)
                | "WriteStatsOutput" >> tfdv.WriteStatisticsToBinaryFile(combined)
            )
        by_key = {d.name: d for d in tfdv.load_stats_binary(combined).datasets}
        for key, target in targets.items():
            # TFDV emits no slice for a key without rows; StatisticsGen writes one empty dataset
            # for an empty split (measured), which ExampleValidator reports as data missing.
            dataset = by_key.get(key, statistics_pb2.DatasetFeatureStatistics())
            dataset.name = ""  # StatisticsGen's unsliced dataset has no name
            io_utils.write_bytes_file(
                target, statistics_pb2.DatasetFeatureStatisticsList(datasets=[dataset]).SerializeToString()
            )
        output_dict["statistics"][:] = artifacts


class SpanBatchStatisticsGen(base_component.BaseComponent):
    """StatisticsGen over several Examples artifacts at once: one statistics artifact per span,
    each with an `examples_id` custom property naming the Examples it profiles."""

    SPEC_CLASS = SpanBatchStatisticsGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(SpanBatchStatisticsGenExecutor)

    def __init__(self, examples: types.BaseChannel, stats_options: tfdv.StatsOptions | None = None):
        super().__init__(
            spec=SpanBatchStatisticsGenSpec(
                examples=examples,
                stats_options_json=stats_options.to_json() if stats_options else None,
                statistics=types.Channel(type=standard_artifacts.ExampleStatistics),
            )
        )
