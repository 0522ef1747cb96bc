"""Alerts reach a real Prometheus Alertmanager (v0.28.1, built from the Go module proxy by
deploy/alertmanager.sh) on loopback, and a plain webhook; a delivery failure never raises.

Alertmanager routes everything to a loopback webhook here, so the test also sees what it would
send on to people (its webhook payload, version "4").
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from pipelines import alerts
from pipelines.names import Outcome
from pipelines.reports.summary import RunSummary
from tests.webhook_sink import WebhookSink

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sink():
    sink = WebhookSink()
    yield sink
    sink.close()


@pytest.fixture
def alertmanager(tmp_path, sink):
    binary = os.environ.get("OPENCT_ALERTMANAGER", "")  # `make test` builds it on the host
    if not binary:
        built = subprocess.run([str(REPO / "deploy" / "alertmanager.sh")], capture_output=True, text=True, timeout=900)
        if built.returncode != 0:
            pytest.skip(f"no Alertmanager: {built.stderr.strip()}")
        binary = built.stdout.strip()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: people\n  group_by: [alertname]\n  group_wait: 1s\n"
        f"receivers:\n  - name: people\n    webhook_configs:\n      - url: {sink.url}\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.path={tmp_path / 'data'}",
            "--cluster.listen-address=",  # no gossip with peers
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=2)  # noqa: S310
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()[-2000:]
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)


def blocked_summary() -> RunSummary:
    return RunSummary(
        status=Outcome.BLOCKED,
        newest_span=7,
        reason="span 7 failed data validation",
        anomalies=["feature 'payment_type': unexpected string values (Bitcoin)"],
    )


def test_a_blocked_span_reaches_alertmanager_and_its_receiver(alertmanager, sink, capsys):
    sent = alerts.for_run(blocked_summary(), "openct", "openct-run-42")
    assert alerts.send(sent, alertmanager, "", "file:///tmp/views") == []
    assert "OpenctSpanBlocked sent" in capsys.readouterr().out
    query = urllib.parse.urlencode({"filter": 'alertname="OpenctSpanBlocked"'})
    with urllib.request.urlopen(f"{alertmanager}/api/v2/alerts?{query}", timeout=10) as response:  # noqa: S310
        (stored,) = json.loads(response.read())
    assert stored["labels"] == {
        "alertname": "OpenctSpanBlocked",
        "pipeline": "openct",
        "severity": "critical",
        "span": "7",
    }
    assert stored["annotations"]["run"] == "openct-run-42"
    assert "payment_type" in stored["annotations"]["description"]
    assert stored["status"]["state"] == "active" and stored["generatorURL"] == "file:///tmp/views"
    (notification,) = sink.wait(1)  # what Alertmanager sends on to people
    assert notification["version"] == "4" and notification["status"] == "firing"
    assert notification["alerts"][0]["labels"]["span"] == "7"


def test_a_plain_webhook_gets_the_same_alert(sink):
    sent = alerts.for_run(blocked_summary(), "openct", "openct-run-42")
    assert alerts.send(sent, "", sink.url) == []
    (body,) = sink.wait(1)
    assert body["version"] == "1" and body["alerts"][0]["labels"]["alertname"] == "OpenctSpanBlocked"


def test_a_delivery_failure_is_reported_and_never_raises(capsys):
    closed = f"http://127.0.0.1:{free_port()}"
    failures = alerts.send(alerts.for_run(blocked_summary(), "openct", "r"), closed, "not a url")
    assert len(failures) == 2 and all("alert not delivered" in f for f in failures)
    assert capsys.readouterr().out.count("warning: alert not delivered") == 2


def test_what_raises_an_alert():
    assert alerts.for_run(RunSummary(status=Outcome.PUSHED), "openct", "r") == []
    assert alerts.for_run(RunSummary(status=Outcome.UNCHANGED), "openct", "r") == []
    (failed,) = alerts.for_run(RunSummary(status=Outcome.FAILED, reason="Trainer failed: OOM"), "openct", "r")
    assert failed.to_json(dt.datetime.now(dt.UTC))["labels"]["alertname"] == "OpenctRunFailed"
    (refused,) = alerts.for_run(
        RunSummary(status=Outcome.NOT_BLESSED, newest_span=3, validation_failures=["auc 0.61 < 0.65"]), "openct", "r"
    )
    assert "not blessed" in refused.summary and refused.details == ["auc 0.61 < 0.65"]
