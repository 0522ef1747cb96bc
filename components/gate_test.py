import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.gate import DataValidationError, list_anomalies, read_anomalies

Type = anomalies_pb2.AnomalyInfo.Type


def _anomalies(**features):
    result = anomalies_pb2.Anomalies()
    for name, (kind, text) in features.items():
        info = result.anomaly_info[name]
        info.description = text
        info.short_description = text[:10]
        info.reason.add(type=kind, description=text)
    return result


def test_clean_data_passes():
    assert list_anomalies({"train": anomalies_pb2.Anomalies(), "eval": anomalies_pb2.Anomalies()}) == []


def test_a_split_without_rows_is_an_anomaly():
    """TFDV reports an empty split only as `data_missing`, with no anomaly entries."""
    empty = anomalies_pb2.Anomalies(data_missing=True)
    found = list_anomalies({"train": empty, "eval": anomalies_pb2.Anomalies()})
    assert [(a.split, a.feature, a.kind) for a in found] == [("train", "(dataset)", "NO_ROWS")]
    assert "0 examples" in str(found[0])


def test_every_anomaly_of_every_split_is_listed_in_order():
    found = list_anomalies(
        {
            "train": _anomalies(
                payment_type=(Type.ENUM_TYPE_UNEXPECTED_STRING_VALUES, "Examples contain 'Bitcoin'"),
                fare=(Type.UNEXPECTED_DATA_TYPE, "Expected FLOAT, got BYTES"),
            ),
            "eval": _anomalies(fare=(Type.UNEXPECTED_DATA_TYPE, "Expected FLOAT, got BYTES")),
        }
    )
    assert [(a.split, a.feature, a.kind) for a in found] == [
        ("eval", "fare", "UNEXPECTED_DATA_TYPE"),
        ("train", "fare", "UNEXPECTED_DATA_TYPE"),
        ("train", "payment_type", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"),
    ]
    assert "Bitcoin" in found[2].description


def test_dataset_level_and_drift_anomalies_count():
    result = anomalies_pb2.Anomalies()
    result.dataset_anomaly_info.description = "Low number of examples"
    result.dataset_anomaly_info.reason.add(type=Type.DATASET_LOW_NUM_EXAMPLES)
    drift = result.drift_skew_info.add()
    drift.path.step.append("company")
    drift.drift_measurements.add(value=0.4, threshold=0.2)
    drift.drift_measurements.add(value=0.1, threshold=0.2)  # under the threshold: not an anomaly
    found = list_anomalies({"train": result})
    assert [(a.feature, a.kind) for a in found] == [("(dataset)", "DATASET_LOW_NUM_EXAMPLES"), ("company", "DRIFT")]


def test_error_message_names_span_and_each_anomaly():
    found = list_anomalies({"train": _anomalies(company=(Type.SCHEMA_MISSING_COLUMN, "Column dropped"))})
    err = DataValidationError(7, found, "/x/anomalies/3")
    assert "span 7 has 1 anomaly" in str(err)
    assert "feature 'company': SCHEMA_MISSING_COLUMN: Column dropped" in str(err)


def test_reads_the_validator_output_layout(tmp_path):
    for split in ("train", "eval"):
        (tmp_path / f"Split-{split}").mkdir()
        (tmp_path / f"Split-{split}" / "SchemaDiff.pb").write_bytes(
            _anomalies(tips=(Type.FLOAT_TYPE_SMALL_FLOAT, "negative")).SerializeToString()
        )
    by_split = read_anomalies(str(tmp_path), ["train", "eval"])
    assert [a.feature for a in list_anomalies(by_split)] == ["tips", "tips"]
    with pytest.raises(tf.errors.NotFoundError):
        read_anomalies(str(tmp_path), ["test"])  # a missing split is an error, not "clean"


def test_failed_data_checks_are_anomalies_with_class_value_and_threshold():
    from components.checks import Check
    from components.gate import check_anomalies

    checks = [
        Check("scale", "fare", 109.3, 3.0, "max", "decile factor vs history (109x)"),
        Check("volume", "(dataset)", 400, 38.9, "min", "rows (history min 389)"),
    ]
    found = check_anomalies({"checks": [c.to_dict() for c in checks]})
    assert [str(a) for a in found] == [
        "split 'span': feature 'fare': SCALE: decile factor vs history (109x): measured 109.3, threshold <= 3"
    ]
    assert check_anomalies({}) == []
