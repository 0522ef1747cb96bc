"""The Keras model and the Trainer's `run_fn`.

A small wide-and-deep binary classifier over the transformed features. The exported SavedModel
has two signatures:
  * serving_default: serialized tf.Examples *without* the label -> {"probabilities": [batch, 1]}
    (what TF Serving answers; the tf.Transform graph is inside, so clients send raw features);
  * transform_features: serialized tf.Examples -> transformed features, label included (what the
    Evaluator uses to get labels).
Warm start: the weights of the latest blessed model are loaded when the architecture matches
(feature encodings have fixed widths for that reason), so a new span costs a short fine-tune.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor, FnArgs
from tfx_bsl.public import tfxio

from pipelines.data.dataset import DatasetSpec
from pipelines.models.preprocessing import category_depth, transformed_name

log = logging.getLogger(__name__)

SERVING_OUTPUT = "probabilities"
WEIGHTS_DIR = "keras-weights"  # inside the Model artifact, next to Format-Serving
WEIGHTS_FILE = "model.weights.h5"
STEPS_PER_EPOCH = 50  # an "epoch" is a chunk of steps: the unit of validation and early stopping


def build_model(spec: DatasetSpec, hidden_units: list[int], learning_rate: float) -> keras.Model:
    """Wide (one-hot categories and buckets) and deep (dense layers over everything) model."""
    inputs: dict[str, keras.KerasTensor] = {}
    wide: list[keras.KerasTensor] = []
    numeric: list[keras.KerasTensor] = []
    for key in spec.numeric:
        name = transformed_name(key)
        inputs[name] = keras.Input(shape=(1,), name=name, dtype="float32")
        numeric.append(inputs[name])
    for key in spec.bucketized:
        name = transformed_name(key)
        inputs[name] = keras.Input(shape=(1,), name=name, dtype="int64")
        wide.append(keras.layers.CategoryEncoding(spec.bucket_count + 1, output_mode="one_hot")(inputs[name]))
    for key in [*spec.categorical, *spec.codes]:
        name = transformed_name(key)
        inputs[name] = keras.Input(shape=(1,), name=name, dtype="int64")
        wide.append(keras.layers.CategoryEncoding(category_depth(spec, key), output_mode="one_hot")(inputs[name]))
    everything = keras.layers.Concatenate()(numeric + wide) if len(numeric + wide) > 1 else (numeric + wide)[0]
    deep = everything
    for units in hidden_units:
        deep = keras.layers.Dense(units, activation="relu")(deep)
    logits_in = keras.layers.Concatenate()([deep, everything])
    output = keras.layers.Dense(1, activation="sigmoid", name=SERVING_OUTPUT)(logits_in)
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )
    return model


def model_inputs(model: keras.Model, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The model's inputs from transformed features, as [batch, 1] tensors of the input dtype."""
    out = {}
    for inp in model.inputs:
        name = inp.name.split(":")[0]
        value = tf.cast(features[name], inp.dtype)
        out[name] = tf.reshape(value, [-1, 1])
    return out


def serving_signatures(model: keras.Model, tft_output: tft.TFTransformOutput, spec: DatasetSpec) -> dict[str, Any]:
    """Signatures that take serialized tf.Examples (see module docstring)."""
    model.tft_layer = tft_output.transform_features_layer()  # tracked, so it is saved
    raw_spec = tft_output.raw_feature_spec()
    serving_spec = {k: v for k, v in raw_spec.items() if k in spec.feature_columns}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.io.parse_example(serialized, serving_spec)
        transformed = model.tft_layer(raw)
        return {SERVING_OUTPUT: model(model_inputs(model, transformed))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        raw = tf.io.parse_example(serialized, raw_spec)
        return model.tft_layer(raw)

    return {"serving_default": serve, "transform_features": transform_features}


def _dataset(
    files: list[str],
    accessor: DataAccessor,
    tft_output: tft.TFTransformOutput,
    spec: DatasetSpec,
    batch_size: int,
    epochs: int | None,
) -> tf.data.Dataset:
    """(transformed features, label) batches from *raw* examples.

    Transform runs with materialize=False (it only analyses), so the transform graph is applied
    here, batch by batch: the same graph the serving signature embeds.
    """
    raw = accessor.tf_dataset_factory(
        files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, num_epochs=epochs, shuffle=epochs is None),
        tft_output.raw_metadata.schema,
    )
    layer = tft_output.transform_features_layer()

    def transform(raw_features: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        features = dict(layer(raw_features))
        label = features.pop(spec.label.name)
        return features, tf.reshape(label, [-1, 1])

    return raw.map(transform, num_parallel_calls=tf.data.AUTOTUNE)


def _warm_start(model: keras.Model, base_model_dir: str | None) -> str:
    """Loads the base model's weights when they fit; returns what happened, for the log."""
    if not base_model_dir:
        return "cold start (no blessed model yet)"
    weights = os.path.join(os.path.dirname(base_model_dir.rstrip("/")), WEIGHTS_DIR, WEIGHTS_FILE)
    if not tf.io.gfile.exists(weights):
        return f"cold start (no weights at {weights})"
    try:
        model.load_weights(weights)
    except (ValueError, KeyError) as exc:  # another architecture: train from scratch
        return f"cold start (base weights do not fit: {exc})"
    return f"warm start from {weights}"


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point (`run_fn='pipelines.models.model.run_fn'`)."""
    cfg = fn_args.custom_config
    spec = DatasetSpec.from_dict(cfg["dataset"])
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    batch = int(cfg["batch_size"])
    train = _dataset(fn_args.train_files, fn_args.data_accessor, tft_output, spec, batch, None)
    evaluation = _dataset(fn_args.eval_files, fn_args.data_accessor, tft_output, spec, batch, 1)

    model = build_model(spec, list(cfg["hidden_units"]), float(cfg["learning_rate"]))
    started = _warm_start(model, fn_args.base_model) if cfg.get("warm_start", True) else "cold start (warm_start off)"
    log.info("Trainer: %s", started)
    print(f"    trainer: {started}", flush=True)

    reshape = lambda f, y: (model_inputs(model, f), y)  # noqa: E731
    steps_per_epoch = min(STEPS_PER_EPOCH, fn_args.train_steps)
    history = model.fit(
        train.map(reshape),
        validation_data=evaluation.map(reshape),
        steps_per_epoch=steps_per_epoch,
        epochs=max(1, fn_args.train_steps // steps_per_epoch),
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=int(cfg["early_stopping_patience"]), restore_best_weights=True
            ),
            keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
        ],
        verbose=0,
    )
    epochs = len(history.history["loss"])
    print(
        f"    trainer: {epochs * steps_per_epoch} steps, val_auc {history.history['val_auc'][-1]:.3f}"
        f" (TensorBoard logs: {fn_args.model_run_dir})",
        flush=True,
    )

    tf.saved_model.save(model, fn_args.serving_model_dir, signatures=serving_signatures(model, tft_output, spec))
    weights_dir = os.path.join(os.path.dirname(fn_args.serving_model_dir.rstrip("/")), WEIGHTS_DIR)
    tf.io.gfile.makedirs(weights_dir)
    model.save_weights(os.path.join(weights_dir, WEIGHTS_FILE))
