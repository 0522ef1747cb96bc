"""`openct serving predict` against a stand-in TF Serving REST API: the body, the version, the request log."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import tensorflow as tf

from pipelines import cli, serving
from pipelines.config import PipelineConfig


@pytest.fixture
def tf_serving():
    """Answers TF Serving's model status and predict calls for model `taxi`, version 4; keeps bodies."""
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server's name
            assert self.path == "/v1/models/taxi"
            self._reply(
                {"model_version_status": [{"version": "3", "state": "END"}, {"version": "4", "state": "AVAILABLE"}]}
            )

        def do_POST(self):  # noqa: N802
            assert self.path == "/v1/models/taxi:predict"
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            self._reply({"predictions": [[0.25] for _ in body["instances"]]})

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", bodies
    server.shutdown()


def test_predict_logs_what_it_sent_under_the_answering_version(tf_serving, tmp_path, capsys):
    url, bodies = tf_serving
    span = tmp_path / "data" / "span-1" / "data.csv"
    span.parent.mkdir(parents=True)
    span.write_text(
        "trip_start_hour,payment_type,fare,trip_miles,tips\n8,Cash,10.5,2.0,0\n23,Credit Card,30.0,9.5,7.0\n"
    )
    flags = ["--data-root", str(tmp_path / "data"), "--serving-dir", str(tmp_path / "serving"), "--url", url]
    assert cli.main(["serving", "predict", *flags, "--rows", "2"]) == 0
    assert "version 4" in capsys.readouterr().out
    [log] = serving.request_logs(PipelineConfig(serving_dir=str(tmp_path / "serving")), 4)
    sent = [base64.b64decode(i["examples"]["b64"]) for i in bodies[0]["instances"]]
    assert [r.numpy() for r in tf.data.TFRecordDataset(str(log))] == sent
    example = tf.train.Example.FromString(sent[1])
    assert example.features.feature["payment_type"].bytes_list.value == [b"Credit Card"]
    assert "tips" not in example.features.feature  # the label's input is never sent to serving

    assert cli.main(["serving", "predict", *flags, "--no-log-requests"]) == 0
    assert len(bodies) == 2 and len(list((tmp_path / "serving").rglob("*.tfrecord"))) == 1
