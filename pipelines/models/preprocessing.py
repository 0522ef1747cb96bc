"""tf.Transform preprocessing, driven by the dataset spec (pipelines.data.dataset).

Transform calls `preprocessing_fn(inputs, custom_config)` with the config the pipeline built
(PipelineConfig.training_config), so this module has no dataset-specific names in it. The same
graph is applied at training, evaluation and serving time (it is saved with the model), which is
what rules out training/serving skew in feature engineering.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from pipelines.data.dataset import DatasetSpec


def transformed_name(key: str) -> str:
    return key + "_xf"


def dense(x: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """A rank-1 dense tensor; missing values become '' (strings), NaN (floats) or 0 (ints).

    CSV columns with empty cells arrive as SparseTensors of dense shape [batch, 1].
    """
    if isinstance(x, tf.SparseTensor):
        default: str | float | int
        if x.dtype == tf.string:
            default = ""
        elif x.dtype.is_floating:
            default = float("nan")
        else:
            default = 0
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
    return tf.reshape(x, [-1])


def _as_float(x: tf.Tensor) -> tf.Tensor:
    x = tf.cast(x, tf.float32)
    return tf.where(tf.math.is_nan(x), tf.zeros_like(x), x)


def make_label(spec: DatasetSpec, inputs: dict[str, Any]) -> tf.Tensor:
    """0/1 int64 label from the raw columns (see LabelSpec)."""
    if spec.label.positive is not None:  # a class: compared as text, whatever type ExampleGen inferred
        raw = dense(inputs[spec.label.column])
        text = raw if raw.dtype == tf.string else tf.strings.as_string(raw)
        return tf.cast(tf.equal(text, spec.label.positive), tf.int64)
    value = tf.cast(dense(inputs[spec.label.column]), tf.float32)
    threshold = tf.constant(spec.label.threshold, tf.float32)
    if spec.label.relative_to:
        base = tf.cast(dense(inputs[spec.label.relative_to]), tf.float32)
        positive = tf.logical_and(~tf.math.is_nan(base), value > threshold * base)
    else:
        positive = value > threshold
    return tf.cast(tf.logical_and(positive, ~tf.math.is_nan(value)), tf.int64)


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """Maps raw features to model inputs; the label only when its columns are present."""
    spec = DatasetSpec.from_dict(custom_config["dataset"])
    outputs: dict[str, Any] = {}
    for key in spec.numeric:
        outputs[transformed_name(key)] = tft.scale_to_z_score(_as_float(dense(inputs[key])))
    for key in spec.bucketized:
        outputs[transformed_name(key)] = tft.bucketize(_as_float(dense(inputs[key])), spec.bucket_count)
    for key, top_k in spec.categorical.items():
        values = dense(inputs[key])
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        outputs[transformed_name(key)] = tft.compute_and_apply_vocabulary(
            values, top_k=top_k, num_oov_buckets=spec.oov_buckets, vocab_filename=f"vocab_{key}"
        )
    for key, count in spec.codes.items():
        outputs[transformed_name(key)] = code_or_oov(dense(inputs[key]), count, spec.oov_buckets, key)
    if all(c in inputs for c in spec.label.raw_columns):
        outputs[spec.label.name] = make_label(spec, inputs)
    return outputs


def code_or_oov(values: tf.Tensor, count: int, oov_buckets: int, key: str) -> tf.Tensor:
    """Integer codes 0..count-1 as they are; any other value to bucket count + (value mod oov)."""
    if values.dtype.is_integer:
        codes = tf.cast(values, tf.int64)
    elif values.dtype.is_floating:  # a column ExampleGen read as floats: NaN (missing) is 0
        codes = tf.cast(_as_float(values), tf.int64)
    else:
        raise ValueError(f"codes column {key!r} must be read as integers (its schema type is {values.dtype.name})")
    valid = (codes >= 0) & (codes < count)
    return tf.where(valid, codes, count + tf.math.floormod(codes, oov_buckets))


def category_depth(spec: DatasetSpec, key: str) -> int:
    """Width of the one-hot encoding of a categorical or codes feature: fixed, so models stay
    compatible across windows whose vocabularies differ in size (needed for warm starts)."""
    return (spec.categorical[key] if key in spec.categorical else spec.codes[key]) + spec.oov_buckets
