import json

import pytest

from pipelines.data.dataset import CHICAGO_TAXI, DatasetSpec, LabelSpec, load_dataset


def test_taxi_spec_kinds_and_serving_columns():
    spec = load_dataset("taxi")
    assert spec is CHICAGO_TAXI
    assert spec.label.raw_columns == ("tips", "fare")
    # fare is a feature, so only tips is absent from serving requests
    assert spec.serving_excluded == ["tips"]
    assert "trip_start_timestamp" in spec.raw_columns
    assert spec.schema_path().name == "taxi.pbtxt" and spec.schema_path().is_file()
    assert spec.source_path().name == "data.csv"


def test_json_round_trip(tmp_path):
    data = CHICAGO_TAXI.to_dict()
    data["schema_file"] = "s.pbtxt"
    data["source"] = "d.csv"
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    spec = load_dataset(str(path))
    assert spec.categorical == CHICAGO_TAXI.categorical
    assert spec.label == CHICAGO_TAXI.label
    # relative paths in a spec file are relative to the file
    assert spec.schema_path() == tmp_path / "s.pbtxt"
    assert spec.source_path() == tmp_path / "d.csv"


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(numeric=("a",), categorical={"a": 3}), "listed under two kinds"),
        (dict(numeric=("y",)), "also a feature"),
        (dict(slice_by=("nope",)), "unknown features"),
        (dict(numeric=(), bucketized=(), categorical={}), "no feature columns"),
        (dict(codes={"a": 3}), "listed under two kinds"),
        (dict(codes={"h": 0}), "positive count of codes: \\['h'\\]"),
        (dict(codes={"h": 24}, oov_buckets=0), "oov_buckets must be >= 1"),
    ],
)
def test_invalid_specs_are_rejected(change, message):
    base = dict(name="d", source="x.csv", timestamp_column="t", label=LabelSpec("y", 0.5), numeric=("a",))
    base.update(change)
    with pytest.raises(ValueError, match=message):
        DatasetSpec(**base)


def test_unknown_dataset_and_bad_file(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a valid dataset spec"):
        load_dataset(str(bad))
    with pytest.raises(ValueError, match="not found"):
        load_dataset(str(tmp_path / "missing.json"))


def test_label_of_a_row_numeric_relative_and_categorical():
    """LabelSpec.of is the rule the preprocessing applies (pipelines/models/preprocessing_test.py)."""
    big_tipper = LabelSpec("tips", 0.2, relative_to="fare")
    assert big_tipper.of({"tips": "3", "fare": "10"}) == 1
    assert big_tipper.of({"tips": "2", "fare": "10"}) == 0
    assert big_tipper.of({"tips": "3", "fare": ""}) == 0  # missing base: 0
    assert LabelSpec("y", 0.5).of({"y": "0.7"}) == 1
    rain = LabelSpec("weather", positive="rain")
    assert [rain.of({"weather": w}) for w in ("rain", "sun", "", "Rain")] == [1, 0, 0, 0]


def test_a_label_is_a_threshold_or_a_class_not_both():
    with pytest.raises(ValueError, match="either 'threshold'"):
        LabelSpec("weather")
    with pytest.raises(ValueError, match="either 'threshold'"):
        LabelSpec("weather", 0.5, positive="rain")
    with pytest.raises(ValueError, match="relative_to"):
        LabelSpec("weather", positive="rain", relative_to="x")


def test_the_data_checks_label_agrees_with_the_spec_on_the_taxi_rows():
    """components.checks.label_of (the gate's label rate, on tf.Example values) == LabelSpec.of
    (the CSV rule the preprocessing mirrors), row by row on the taxi sample."""
    import csv
    import dataclasses

    from components.checks import label_of

    label = CHICAGO_TAXI.label
    with open(CHICAGO_TAXI.source_path(), newline="") as f:
        rows = list(csv.DictReader(f))[:3000]

    def value(v):  # what a tf.Example carries: absent, a number, or bytes
        if v == "":
            return None
        try:
            return float(v)
        except ValueError:
            return v

    ours = [label_of({k: value(v) for k, v in row.items()}, dataclasses.asdict(label)) for row in rows]
    assert ours == [label.of(row) for row in rows]
    assert 0.1 < sum(ours) / len(ours) < 0.5


def test_data_check_thresholds_travel_in_the_spec(tmp_path):
    data = CHICAGO_TAXI.to_dict()
    data["checks"] = {"scale_factors": {"fare": 1.5}, "label_max_shift": 0.2}
    spec = DatasetSpec.from_dict(data)
    assert spec.checks.scale_factors == {"fare": 1.5} and spec.checks.label_max_shift == 0.2
    assert DatasetSpec.from_dict({k: v for k, v in data.items() if k != "checks"}).checks == CHICAGO_TAXI.checks
    with pytest.raises(ValueError, match="unknown data check thresholds"):
        DatasetSpec.from_dict({**data, "checks": {"volume": 1}})
