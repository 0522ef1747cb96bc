"""Prediction requests to TF Serving, built from real rows of a span.

The served model's `serving_default` signature takes serialized tf.Examples without the label
(pipelines.models.model). TF Serving's REST API carries binary inputs as {"b64": ...}; feature
types come from the curated schema, so a row is encoded exactly as ExampleGen would encode it.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any

from components import serving_config
from pipelines.data.dataset import DatasetSpec
from pipelines.data.spans import existing_spans, read_rows, span_path

REQUEST_LOGS = "request-logs"


def served_version(serving_dir: str, model: str) -> int | None:
    """The version TF Serving serves from <serving_dir>/<model>: the pinned one
    (components.serving_config), else the highest complete one."""
    return serving_config.served(serving_dir, model)


def request_log_dir(serving_dir: str, model: str, version: int) -> Path:
    """<serving_dir>/request-logs/<model>/<version>: beside, not inside, TF Serving's model directory."""
    return Path(serving_dir) / REQUEST_LOGS / model / str(version)


def log_requests(serving_dir: str, model: str, version: int, examples: list[bytes]) -> Path:
    """Keeps the tf.Examples sent to a model version as one TFRecord file (written, then renamed),
    for the skew check. TF Serving's own request logging needs a log collector that its open-source
    build does not ship, so the client logs what it sends."""
    import datetime as dt

    import tensorflow as tf

    directory = request_log_dir(serving_dir, model, version)
    directory.mkdir(parents=True, exist_ok=True)
    name = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    staging = directory / f".{name}.incoming"
    with tf.io.TFRecordWriter(str(staging)) as writer:
        for example in examples:
            writer.write(example)
    return staging.rename(directory / f"{name}.tfrecord")


def request_logs(config, version: int) -> list[Path]:
    """The request log files of a served model version, oldest first."""
    return sorted(request_log_dir(config.serving_dir, config.served_model_name, version).glob("*.tfrecord"))


def feature_types(spec: DatasetSpec) -> dict[str, str]:
    """Column -> 'INT' | 'FLOAT' | 'BYTES' from the curated schema."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    return {f.name: schema_pb2.FeatureType.Name(f.type) for f in spec.load_schema().feature}


def example_bytes(row: dict[str, str], spec: DatasetSpec, types: dict[str, str]) -> bytes:
    """A serialized tf.Example of the row's serving features (empty values left out, as in CSV)."""
    import tensorflow as tf

    feature = {}
    for column in spec.feature_columns:
        value = row.get(column, "")
        if value == "":
            continue
        kind = types.get(column, "BYTES")
        if kind == "INT":
            feature[column] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(float(value))]))
        elif kind == "FLOAT":
            feature[column] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        else:
            feature[column] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def predict_body(examples: list[bytes]) -> dict[str, Any]:
    """TF Serving REST `:predict` body for the `examples` input of serving_default."""
    return {
        "signature_name": "serving_default",
        "instances": [{"examples": {"b64": base64.b64encode(e).decode()}} for e in examples],
    }


def sample_rows(data_root: str, count: int) -> tuple[Path, list[dict[str, str]]]:
    """The first `count` rows of the newest span."""
    spans = existing_spans(data_root)
    if not spans:
        raise FileNotFoundError(f"no spans under {data_root}")
    path = span_path(data_root, spans[-1])
    header, rows = read_rows(path)
    out = []
    for _, values in rows:
        out.append(dict(zip(header, values, strict=True)))  # read_rows checked the field count
        if len(out) == count:
            break
    return path, out


def model_url(url: str, model: str, label: str | None = None) -> str:
    """TF Serving's REST address of a model, or of the version under a label
    (model_servers/http_rest_api_util.cc:31-32: /v1/models/<name>/labels/<label>:predict)."""
    return f"{url.rstrip('/')}/v1/models/{model}" + (f"/labels/{label}" if label else "")


def predict(url: str, model: str, body: dict[str, Any], label: str | None = None, timeout: float = 30.0) -> list:
    request = urllib.request.Request(
        model_url(url, model, label) + ":predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - a user-given URL
        return json.loads(response.read())["predictions"]


def _version_status(url: str, model: str, timeout: float) -> list[dict[str, Any]]:
    with urllib.request.urlopen(model_url(url, model), timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())["model_version_status"]


def available_versions(url: str, model: str, timeout: float = 30.0) -> set[int]:
    """The versions TF Serving reports AVAILABLE (its model status API)."""
    return {int(s["version"]) for s in _version_status(url, model, timeout) if s.get("state") == "AVAILABLE"}


def loaded_version(url: str, model: str, timeout: float = 30.0) -> int:
    """The version TF Serving answers with (its model status API: the newest AVAILABLE one)."""
    available = available_versions(url, model, timeout)
    if not available:
        raise ValueError(f"TF Serving at {url} has no AVAILABLE version of model {model}")
    return max(available)


def label_version(config, label: str) -> int:
    """The version under `label` in the model config we wrote. (TF Serving's status API for a label
    answers with every version, get_model_status_impl.cc:82-107, so it cannot say.)"""
    state = serving_config.read(config.serving_dir, config.served_model_name)
    labels = dict(state.labels)
    if label not in labels:
        raise ValueError(
            f"no label {label!r} in {serving_config.config_path(config.serving_dir)} (labels: {labels or 'none'})"
        )
    return labels[label]
