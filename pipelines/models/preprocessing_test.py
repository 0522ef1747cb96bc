import math

import pytest
import tensorflow as tf

from pipelines.models.conftest import TINY
from pipelines.models.preprocessing import category_depth, dense


def test_outputs_on_a_few_rows(tiny_transform):
    rows, _ = tiny_transform
    assert set(rows[0]) == {"fare_xf", "b_xf", "c_xf", "h_xf", "big"}
    std = math.sqrt(1.25)  # fares 1..4: mean 2.5, population variance 1.25
    assert [r["fare_xf"] for r in rows] == pytest.approx([(f - 2.5) / std for f in (1, 2, 3, 4)], rel=1e-5)
    assert [int(r["b_xf"]) for r in rows] == [0, 0, 1, 1]  # two quantile buckets
    assert [int(r["c_xf"]) for r in rows] == [0, 0, 0, 1]  # 'a' in the top-1 vocabulary, 'b' out of it
    assert [int(r["h_xf"]) for r in rows] == [0, 2, 1, 3]  # codes 0..2 as they are, 7 to the OOV bucket
    # label: tips > 20% of fare
    assert [int(r["big"]) for r in rows] == [1, 0, 1, 0]


def test_category_depth_is_fixed_by_the_spec():
    assert category_depth(TINY, "c") == 2  # top_k 1 + 1 OOV bucket, whatever the data
    assert category_depth(TINY, "h") == 4  # 3 codes + 1 OOV bucket


def test_codes_map_out_of_range_and_missing_values():
    from pipelines.models.preprocessing import code_or_oov

    values = tf.constant([0, 4, 5, -1, 12, 2**40 + 1], tf.int64)  # the last one exact: no float round trip
    assert code_or_oov(values, 5, 2, "h").numpy().tolist() == [0, 4, 5 + 5 % 2, 5 + (-1 % 2), 5 + 12 % 2, 5 + 1]
    floats = tf.constant([1.0, float("nan")])  # a float column: NaN (missing) is code 0
    assert code_or_oov(floats, 5, 2, "h").numpy().tolist() == [1, 0]
    with pytest.raises(ValueError, match="codes column 'h' must be read as integers"):
        code_or_oov(tf.constant(["a"]), 5, 2, "h")


def test_dense_fills_missing_values():
    sparse = tf.SparseTensor(indices=[[0, 0], [2, 0]], values=[1.5, 2.5], dense_shape=[3, 1])
    values = dense(sparse).numpy()
    assert values[0] == 1.5 and values[2] == 2.5 and math.isnan(values[1])
    strings = tf.SparseTensor(indices=[[1, 0]], values=[b"x"], dense_shape=[2, 1])
    assert dense(strings).numpy().tolist() == [b"", b"x"]


def test_categorical_label_is_the_positive_class():
    """label = column == positive, compared as text (as LabelSpec.of does on CSV rows)."""
    import dataclasses

    from pipelines.data.dataset import LabelSpec
    from pipelines.models.preprocessing import make_label

    spec = dataclasses.replace(TINY, label=LabelSpec("weather", positive="rain", name="rainy"))
    weather = tf.SparseTensor(indices=[[0, 0], [1, 0], [3, 0]], values=[b"rain", b"sun", b"rain"], dense_shape=[4, 1])
    assert make_label(spec, {"weather": weather}).numpy().tolist() == [1, 0, 0, 1]  # row 2 missing: 0
    codes = tf.constant([[1], [2]], tf.int64)  # a class column ExampleGen read as integers
    spec = dataclasses.replace(TINY, label=LabelSpec("code", positive="2", name="two"))
    assert make_label(spec, {"code": codes}).numpy().tolist() == [0, 1]
