"""The pass over a span's rows that TFDV does not make, on Arrow batches (components.data_checks).

DataChecks needs, per span, what StatisticsGen's statistics do not hold: duplicate rows, rows
repeating an earlier span's (a row sketch), the derived label rate, rows with NaN or an infinity,
and rows above the history's largest value. It read them first one tf.Example at a time in
Python: 120 us per row, 195 s of a 625-s full run over 1.5 million rows (docs/results.md,
"Scale"), where reading the same CSVs takes 0.8 s. Here the span's records are decoded in batches
by tfx_bsl's `ExamplesToRecordBatchDecoder` (C++, what StatisticsGen's TFXIO runs on the same
files) and every measure is a NumPy operation over a batch's columns.

A row is identified by a 64-bit hash of its features (`row_hashes`): the sum, over the features
present in the row, of a mix of the feature's name, its value count and each value (a float by its
float64 bits, an integer by its value, bytes by BLAKE2b), each value tagged with its kind. Two
rows hash alike when their tf.Examples hold the same features with the same values, whatever
types the decoder inferred for a batch (a column empty in a whole batch decodes as list<null>),
and a feature missing from a batch's schema counts as missing from its rows. Duplicates are
counted on these hashes: a false duplicate needs two distinct rows of one split with one 64-bit
hash (about 1 in 10^7 for a split of 1.5 million rows). The row sketch keeps the smallest hashes
(checks.RowSketch), marked with ROW_HASH so that sketches of another hash are not compared.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components import checks as checks_lib

BATCH_ROWS = 8192  # records decoded at once: ~2 MB of Arrow per batch on the taxi columns
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)  # SplitMix64's finalizer
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_KIND_TAG = {"float": np.uint64(0x9E3779B97F4A7C15), "int": np.uint64(0xC2B2AE3D27D4EB4F), "bytes": np.uint64(0)}


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (Steele et al. 2014), elementwise on uint64 (wrapping arithmetic)."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


def _blake(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _kind(t: pa.DataType) -> str | None:
    """A value type's kind as a tf.Example holds it."""
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_string(t):
        return "bytes"
    return None  # list<null>: every list in the batch is empty


def _value_hashes(values: pa.Array) -> np.ndarray:
    """One uint64 per value, tagged with its kind (an int 5 and a float 5.0 differ, as in a
    tf.Example)."""
    kind = _kind(values.type)
    if kind is None or len(values) == 0:
        return np.zeros(len(values), dtype=np.uint64)
    if kind == "bytes":
        encoded = pc.dictionary_encode(values)
        distinct = np.array([_blake(v) for v in encoded.dictionary.to_pylist()], dtype=np.uint64)
        raw = distinct[encoded.indices.to_numpy(zero_copy_only=False)]
    elif kind == "float":
        raw = values.to_numpy(zero_copy_only=False).astype(np.float64).view(np.uint64)
    else:
        raw = values.to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64)
    return _mix(raw ^ _KIND_TAG[kind])


def _lengths(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(values per row, where each row's values start in pc.list_flatten(column)); a missing row
    has 0 values (flatten skips it)."""
    lengths = np.asarray(pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    starts: np.ndarray = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return lengths, starts


def _cell_hashes(name: str, column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(hash per row, present per row) of one feature's column (a list array)."""
    present = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False))
    length, starts = _lengths(column)
    values = pc.list_flatten(column)
    parents = np.asarray(pc.list_parent_indices(column).to_numpy(zero_copy_only=False), dtype=np.int64)
    position = np.arange(len(values), dtype=np.int64) - starts[parents]
    acc: np.ndarray = np.zeros(len(column), dtype=np.uint64)
    np.add.at(acc, parents, _mix(_value_hashes(values) + _mix(position.astype(np.uint64) + np.uint64(1))))
    seed = np.uint64(_blake(name.encode()))
    return _mix(_mix(acc + seed) ^ _mix(length.astype(np.uint64))), present


def _columns(batch: pa.RecordBatch) -> Iterator[tuple[str, pa.Array]]:
    """(name, list column) of the features some row of the batch has: the decoder gives a feature
    that no row holds a value list for (absent, or a tf.train.Feature with no kind) the type null,
    and both read as missing in every row, as TFDV counts them."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if not pa.types.is_null(column.type):
            yield name, column


def row_hashes(batch: pa.RecordBatch, exclude: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(hash of each row, hash of each row without the feature `exclude`) (module doc)."""
    full = np.zeros(batch.num_rows, dtype=np.uint64)
    without = np.zeros(batch.num_rows, dtype=np.uint64)
    for name, column in _columns(batch):
        cell, present = _cell_hashes(name, column)
        cell = np.where(present, cell, np.uint64(0))
        full += cell
        if name != exclude:
            without += cell
    return _mix(full), _mix(without)


def _first_values(column: pa.Array | None, rows: int) -> list[Any]:
    """Each row's first value as label_of sees it: a Python number or str (bytes decoded), None
    where the row has none."""
    if column is None:
        return [None] * rows
    lengths, starts = _lengths(column)
    values = pc.list_flatten(column).to_pylist()
    return [
        (v.decode("utf-8", "replace") if isinstance(v := values[s], bytes) else v) if n else None
        for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)
    ]


def _as_numbers(values: list[Any]) -> np.ndarray:
    """label_of's float(value) per row, NaN where there is no value or it does not parse (label_of
    counts both as 0, as every comparison with NaN is false)."""
    parsed: dict[Any, float] = {}
    for v in set(values):
        try:
            parsed[v] = math.nan if v is None else float(v)
        except ValueError:
            parsed[v] = math.nan
    return np.array([parsed[v] for v in values], dtype=np.float64)


def label_positives(batch: pa.RecordBatch, label: Mapping[str, Any]) -> int:
    """Rows whose label is 1 by checks.label_of's rule (kept there, and tested equal to it), on a
    whole batch at once: a class by the text of the value, else the value against a threshold,
    or against a threshold times another column."""
    columns = dict(_columns(batch))

    def column(name: str) -> list[Any]:
        return _first_values(columns.get(name), batch.num_rows)

    value = column(label["column"])
    if label.get("positive") is not None:
        return sum(v is not None and str(v) == label["positive"] for v in value)
    number = _as_numbers(value)
    threshold = float(label.get("threshold") or 0.0)
    with np.errstate(invalid="ignore"):
        if not label.get("relative_to"):
            return int(np.count_nonzero(number > threshold))
        return int(np.count_nonzero(number > threshold * _as_numbers(column(label["relative_to"]))))


def _rows_where(column: pa.Array, test: Any) -> np.ndarray:
    """Indices of the rows holding at least one value for which `test(values)` is true."""
    values = pc.list_flatten(column)
    if _kind(values.type) not in ("float", "int") or len(values) == 0:
        return np.empty(0, dtype=np.int64)
    parents = np.asarray(pc.list_parent_indices(column).to_numpy(zero_copy_only=False))
    with np.errstate(invalid="ignore"):
        hit = test(values.to_numpy(zero_copy_only=False).astype(np.float64))
    return np.unique(parents[hit])


def row_text(batch: pa.RecordBatch, row: int, limit: int = 300) -> str:
    """A row as `name=value, ...` by feature name (the first value; None for a feature present
    without one; features the row does not have left out), to find it in the CSV."""
    parts = []
    for name, column in sorted(_columns(batch), key=lambda nc: nc[0]):
        cell = column[row].as_py()
        if cell is None:
            continue
        value = cell[0] if cell else None
        parts.append(f"{name}={value.decode('utf-8', 'replace') if isinstance(value, bytes) else value}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def record_batches(files: list[str]) -> Iterator[pa.RecordBatch]:
    """The Examples in `files` (gzip TFRecords, CsvExampleGen's), BATCH_ROWS at a time, decoded
    as StatisticsGen decodes them without a schema."""
    import tensorflow as tf  # already loaded by TFX's executors; imported here to keep compile light
    from tfx_bsl.coders import example_coder

    decoder = example_coder.ExamplesToRecordBatchDecoder()
    if not files:
        return
    dataset = tf.data.TFRecordDataset(sorted(files), compression_type="GZIP").batch(BATCH_ROWS)
    for records in dataset.as_numpy_iterator():
        yield decoder.DecodeBatch(list(records))


def profile_rows(
    split_files: Mapping[str, list[str]],
    label: Mapping[str, Any],
    time_column: str = "",
    bounds: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """What TFDV does not compute, over each split's files: the share of rows identical to an
    earlier row of their split (ExampleGen sends identical rows to the same split,
    base_example_gen_executor.py:42-47, so per-split counting finds them all), the label rate by
    LabelSpec's rule, per float feature the share of rows holding NaN or an infinity, with the
    first such row (TFDV's histograms count NaNs but not infinities, which only show as a min or
    max), a sketch of the rows without `time_column` (a later span's rows repeating these are
    found from it), and per feature in `bounds` the share of rows above its bound (the history's
    largest value: a few extreme values move no decile)."""
    bounds = dict(bounds or {})
    beyond = dict.fromkeys(bounds, 0)
    nonfinite: dict[str, int] = {}
    nonfinite_example: dict[str, str] = {}
    rows = positives = duplicates = 0
    timeless: list[np.ndarray] = []
    for split in sorted(split_files):
        hashes: list[np.ndarray] = []
        for batch in record_batches(split_files[split]):
            full, without = row_hashes(batch, time_column)
            hashes.append(full)
            timeless.append(np.unique(without)[: checks_lib.SKETCH_SIZE])  # the span's are among these
            rows += batch.num_rows
            positives += label_positives(batch, label)
            for name, column in _columns(batch):
                if name in bounds:
                    beyond[name] += len(_rows_where(column, lambda v, b=bounds[name]: v > b))
                if _kind(column.type.value_type) != "float":
                    continue
                bad = _rows_where(column, lambda v: ~np.isfinite(v))
                nonfinite[name] = nonfinite.get(name, 0) + len(bad)
                if len(bad) and name not in nonfinite_example:
                    nonfinite_example[name] = row_text(batch, int(bad[0]))
        if hashes:
            every = np.concatenate(hashes)
            duplicates += len(every) - len(np.unique(every))
    sketch = checks_lib.RowSketch.of(np.concatenate(timeless).tolist() if timeless else [])
    return {
        "duplicates": duplicates / rows if rows else 0.0,
        "label_rate": positives / rows if rows else None,
        "nonfinite": {k: v / rows for k, v in nonfinite.items()} if rows else {},
        "nonfinite_example": nonfinite_example,
        "rows_sketch": sketch.to_dict(),
        "beyond": {k: {"bound": bounds[k], "share": v / rows} for k, v in beyond.items()} if rows else {},
    }


def split_files(split_uri: str) -> list[str]:
    """The record files of one split directory of an Examples artifact."""
    from tfx.dsl.io import fileio

    return sorted(fileio.glob(os.path.join(split_uri, "*")))
