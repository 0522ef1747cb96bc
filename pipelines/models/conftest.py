"""A tiny dataset and its tf.Transform output, shared by the preprocessing and model tests."""

import tempfile

import pytest
import tensorflow as tf

from pipelines.data.dataset import DatasetSpec, LabelSpec

TINY = DatasetSpec(
    name="tiny",
    source="unused.csv",
    timestamp_column="t",
    label=LabelSpec(column="tips", threshold=0.2, relative_to="fare", name="big"),
    numeric=("fare",),
    bucketized=("b",),
    categorical={"c": 1},
    codes={"h": 3},
    bucket_count=2,
    oov_buckets=1,
)
ROWS = [
    {"fare": 1.0, "b": 0.1, "c": "a", "h": 0, "tips": 1.0, "t": 1},
    {"fare": 2.0, "b": 0.2, "c": "a", "h": 2, "tips": 0.0, "t": 2},
    {"fare": 3.0, "b": 0.8, "c": "a", "h": 1, "tips": 3.0, "t": 3},
    {"fare": 4.0, "b": 0.9, "c": "b", "h": 7, "tips": 0.1, "t": 4},
]
FEATURE_SPEC = {
    "fare": tf.io.FixedLenFeature([], tf.float32),
    "b": tf.io.FixedLenFeature([], tf.float32),
    "c": tf.io.FixedLenFeature([], tf.string),
    "h": tf.io.FixedLenFeature([], tf.int64),
    "tips": tf.io.FixedLenFeature([], tf.float32),
    "t": tf.io.FixedLenFeature([], tf.int64),
}


def custom_config():
    return {"dataset": TINY.to_dict()}


def serialized(row: dict, drop=()) -> bytes:
    feature = {}
    for key, value in row.items():
        if key in drop:
            continue
        if isinstance(value, str):
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="session")
def tiny_transform():
    """(transformed rows, TFTransformOutput dir) from running preprocessing_fn through tf.Transform."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from pipelines.models.preprocessing import preprocessing_fn

    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(FEATURE_SPEC))
    out_dir = tempfile.mkdtemp(prefix="tft-")
    # TF1 graph mode, as the pipeline's Transform runs it (pipelines/pipeline/dag.py)
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=True):
        (transformed, _), transform_fn = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config())
        )
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    # TFX's Transform also records the raw metadata; the serving signature reads it.
    metadata_io.write_metadata(metadata, f"{out_dir}/{tft.TFTransformOutput.RAW_METADATA_DIR}")
    return transformed, tft.TFTransformOutput(out_dir)
