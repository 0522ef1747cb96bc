"""The Arrow pass over a span's rows against its definition, one tf.Example at a time (what
DataChecks ran before: deterministic serialization for identity, checks.label_of for the label),
on real taxi rows written as CsvExampleGen writes them (gzip TFRecords; an empty cell is a
feature with no value), plus rows the taxi sample lacks: NaN, infinities, a feature missing from
a row, a feature no row has a value list for, a feature with two values, copies and time-shifted
copies across batches."""

from __future__ import annotations

import csv
import importlib.resources
import math
import random
from pathlib import Path

import pytest
import tensorflow as tf

from components import checks, row_profile

TAXI_CSV = importlib.resources.files("tfx").joinpath("examples/chicago_taxi_pipeline/data/simple/data.csv")
TIME = "trip_start_timestamp"
LABEL = {"column": "tips", "threshold": 0.2, "relative_to": "fare", "name": "big_tipper"}


def _typed(rows: list[dict[str, str]]) -> dict[str, str]:
    """CsvExampleGen's column types: INT when every value parses as one, else FLOAT, else BYTES."""
    kinds = {}
    for column in rows[0]:
        values = [r[column] for r in rows if r[column]]
        if all(v.lstrip("-").isdigit() for v in values):
            kinds[column] = "int"
        else:
            try:
                [float(v) for v in values]
                kinds[column] = "float"
            except ValueError:
                kinds[column] = "bytes"
    return kinds


def _example(row: dict[str, object], kinds: dict[str, str]) -> tf.train.Example:
    example = tf.train.Example()
    for column, value in row.items():
        feature = example.features.feature[column]
        values = value if isinstance(value, list) else ([] if value in ("", None) else [value])
        if kinds[column] == "int":
            feature.int64_list.value.extend(int(v) for v in values)
        elif kinds[column] == "float":
            feature.float_list.value.extend(float(v) for v in values)
        else:
            feature.bytes_list.value.extend(str(v).encode() for v in values)
    return example


@pytest.fixture(scope="module")
def span(tmp_path_factory) -> tuple[dict[str, list[str]], dict[str, list[tf.train.Example]]]:
    """1,200 real taxi rows, and the edge cases, in a train split of two files and an eval split."""
    with TAXI_CSV.open(newline="") as f:
        rows = [r for _, r in zip(range(1200), csv.DictReader(f), strict=False)]
    kinds = _typed(rows)
    examples = [_example(r, kinds) for r in rows]
    rng = random.Random(7)
    extra = []
    for i in range(40):  # exact copies, and copies 1-59 s later (the same trip re-sent)
        copy = tf.train.Example()
        copy.CopyFrom(examples[rng.randrange(len(examples))])
        if i % 2:
            copy.features.feature[TIME].int64_list.value[0] += rng.randint(1, 59)
        extra.append(copy)
    for value in (math.nan, math.inf, -math.inf):
        extra.append(_example({**rows[5], "fare": value}, kinds))
    extra.append(_example({**rows[6], "tips": [1.0, 2.0]}, kinds))  # two values
    missing = _example(rows[7], kinds)
    del missing.features.feature["company"]  # absent, not empty
    extra += [missing, _example({**rows[8], "company": ""}, kinds)]
    everything = examples + extra
    for example in everything:  # a feature with no value list in every row: the decoder's type null
        example.features.feature["note"].CopyFrom(tf.train.Feature())
    rng.shuffle(everything)
    root = tmp_path_factory.mktemp("examples")
    parts = {"train": [everything[:500], everything[500:900]], "eval": [everything[900:]]}
    files: dict[str, list[str]] = {}
    for split, chunks in parts.items():
        for i, chunk in enumerate(chunks):
            path = root / f"Split-{split}" / f"data_tfrecord-{i:05d}-of-{len(chunks):05d}.gz"
            path.parent.mkdir(exist_ok=True)
            with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
                for example in chunk:
                    writer.write(example.SerializeToString())
            files.setdefault(split, []).append(str(path))
    return files, {split: [e for c in chunks for e in c] for split, chunks in parts.items()}


def _value(feature: tf.train.Feature) -> object:
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else []
    if not values:
        return None
    return values[0].decode("utf-8", "replace") if kind == "bytes_list" else values[0]


def _one_at_a_time(by_split: dict[str, list[tf.train.Example]], bounds: dict[str, float]) -> dict:
    """The definition, as DataChecks computed it before row_profile."""
    rows = positives = duplicates = 0
    nonfinite: dict[str, int] = {}
    beyond = dict.fromkeys(bounds, 0)
    for split in sorted(by_split):
        seen: set[bytes] = set()
        for example in by_split[split]:
            key = example.SerializeToString(deterministic=True)
            duplicates += key in seen
            seen.add(key)
            rows += 1
            positives += checks.label_of({n: _value(f) for n, f in example.features.feature.items()}, LABEL)
            for name, f in example.features.feature.items():
                if name in bounds:
                    beyond[name] += any(v > bounds[name] for v in f.float_list.value or f.int64_list.value)
                if f.WhichOneof("kind") == "float_list":
                    bad = any(not math.isfinite(v) for v in f.float_list.value)
                    nonfinite[name] = nonfinite.get(name, 0) + bad
    return {
        "duplicates": duplicates / rows,
        "label_rate": positives / rows,
        "nonfinite": {k: v / rows for k, v in nonfinite.items()},
        "beyond": {k: {"bound": bounds[k], "share": v / rows} for k, v in beyond.items()},
    }


@pytest.mark.parametrize("batch_rows", [row_profile.BATCH_ROWS, 37])  # 37: columns empty in a batch
def test_the_arrow_pass_measures_what_the_definition_measures(span, monkeypatch, batch_rows):
    files, by_split = span
    monkeypatch.setattr(row_profile, "BATCH_ROWS", batch_rows)
    bounds = {"fare": 40.0, "trip_seconds": 3000.0, "tips": 10.0}
    profile = row_profile.profile_rows(files, LABEL, TIME, bounds)
    expected = _one_at_a_time(by_split, bounds)
    assert profile["duplicates"] == pytest.approx(expected["duplicates"]) and expected["duplicates"] > 0
    assert profile["label_rate"] == pytest.approx(expected["label_rate"])
    assert profile["nonfinite"] == pytest.approx(expected["nonfinite"]) and expected["nonfinite"]["fare"] > 0
    assert profile["beyond"] == expected["beyond"]
    first_bad = profile["nonfinite_example"]["fare"]
    assert "fare=nan" in first_bad or "fare=inf" in first_bad or "fare=-inf" in first_bad


def test_rows_hash_alike_exactly_when_their_examples_are_equal(span, monkeypatch):
    """Across batches whose inferred column types differ (a batch of 37 rows can hold a column
    only empty cells), and with the time column left out for the sketch."""
    files, by_split = span
    monkeypatch.setattr(row_profile, "BATCH_ROWS", 37)
    examples = [e for split in sorted(by_split) for e in by_split[split]]
    full, timeless = [], []
    for split in sorted(files):
        for batch in row_profile.record_batches(files[split]):
            f, t = row_profile.row_hashes(batch, TIME)
            full += f.tolist()
            timeless += t.tolist()
    keys = [e.SerializeToString(deterministic=True) for e in examples]
    without = []
    for e in examples:
        copy = tf.train.Example()
        copy.CopyFrom(e)
        del copy.features.feature[TIME]
        without.append(copy.SerializeToString(deterministic=True))
    assert len(set(zip(keys, full, strict=True))) == len(set(keys)) == len(set(full))
    assert len(set(zip(without, timeless, strict=True))) == len(set(without)) == len(set(timeless))
    assert len(set(timeless)) < len(set(full))  # the time-shifted copies


def _write(path: Path, examples: list[tf.train.Example]) -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    return [str(path)]


def test_a_span_sent_again_later_is_found_by_its_sketch(span, tmp_path):
    """The eval split's rows again, a day later: the sketch finds them all; other real rows share
    none; a sketch recorded with the old hash (no "hash" key) is not compared."""
    _, by_split = span
    rows = by_split["eval"]
    later = []
    for example in rows:
        copy = tf.train.Example()
        copy.CopyFrom(example)
        copy.features.feature[TIME].int64_list.value[0] += 86400
        later.append(copy)
    profiles = {
        name: row_profile.profile_rows({"eval": _write(tmp_path / name / "data.gz", chosen)}, LABEL, TIME)
        for name, chosen in (("first", rows), ("again", later), ("other", by_split["train"]))
    }
    sketch = {name: p["rows_sketch"] for name, p in profiles.items()}
    assert sketch["first"]["hash"] == checks.ROW_HASH
    assert checks.repeats({"rows_sketch": sketch["again"]}, [(1, {"rows_sketch": sketch["first"]})])["share"] == 1.0
    other = checks.repeats({"rows_sketch": sketch["other"]}, [(1, {"rows_sketch": sketch["first"]})])
    assert other["share"] < 0.1  # at most the 40 copies, among 900 rows
    old = {k: v for k, v in sketch["first"].items() if k != "hash"}
    assert checks.repeats({"rows_sketch": sketch["again"]}, [(1, {"rows_sketch": old})]) is None


def test_an_empty_split_has_no_rows(tmp_path):
    path = tmp_path / "data_tfrecord-00000-of-00001.gz"
    tf.io.TFRecordWriter(str(path), options="GZIP").close()
    profile = row_profile.profile_rows({"eval": [str(path)], "train": []}, LABEL, TIME)
    assert profile["label_rate"] is None and profile["duplicates"] == 0.0 and profile["rows_sketch"]["hashes"] == []
