"""The KFP client commands against a TEST DOUBLE of the KFP REST API (tests/kfp_double.py).

The double is not Kubeflow: it checks each request body against the kfp_server_api models and the
uploaded spec's parameters, and scripts run states. The real thing is tests/test_kfp_cluster.py.
"""

from __future__ import annotations

import time

import kfp_server_api
import pytest

from pipelines import cli
from pipelines.runners import kfp_client
from tests import kfp_double, kfp_spec


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    return kfp_spec.compile_default(tmp_path_factory.mktemp("spec") / "pipeline.yaml")


@pytest.fixture
def kfp():
    fake = kfp_double.FakeKfp()
    with kfp_double.Server(fake) as server:
        yield fake, server.url


def openct(url: str, *args: str) -> int:
    """`openct kfp <command>` (or `openct ct trigger`) against the double at `url`."""
    group = "ct" if args[0] == "trigger" else "kfp"
    return cli.main([group, args[0], "--host", url, *args[1:]])


def posts(fake, path_end: str) -> list:
    return [r for r in fake.requests if r[0] == "POST" and r[1].endswith(path_end)]


def test_upload_is_idempotent(kfp, spec_path, capsys):
    fake, url = kfp
    assert openct(url, "upload", "--spec", str(spec_path)) == 0
    assert openct(url, "upload", "--spec", str(spec_path)) == 0
    assert len(posts(fake, "/pipelines/upload")) == 1 and len(posts(fake, "/pipelines/upload_version")) == 1
    name = kfp_client.version_name(spec_path)
    assert [v["display_name"] for v in fake.versions.values()] == ["openct", name]  # KFP's first + ours
    out = capsys.readouterr().out
    assert f"version '{name}': uploaded" in out and "already there" in out
    assert openct(url, "upload", "--spec", str(spec_path), "--version", "v2") == 0
    assert len(posts(fake, "/pipelines/upload_version")) == 2


def test_submit_waits_and_reports_the_outcome(kfp, spec_path, capsys):
    fake, url = kfp
    openct(url, "upload", "--spec", str(spec_path))
    assert (
        openct(
            url,
            "submit",
            "--param",
            "train_steps=500",
            "--param",
            "data_root=/mnt/openct/data",
            "--service-account",
            "openct-pipeline",
            "--wait",
            "--poll",
            "0.05",
        )
        == 0
    )
    run = next(iter(fake.runs.values()))
    assert run["service_account"] == "openct-pipeline"
    assert run["runtime_config"]["parameters"] == {"train_steps": 500, "data_root": "/mnt/openct/data"}
    newest = max(fake.versions.values(), key=lambda v: v["created_at"])
    assert run["pipeline_version_reference"]["pipeline_version_id"] == newest["pipeline_version_id"]
    assert [e["display_name"] for e in fake.experiments.values()] == ["openct"]
    out = capsys.readouterr().out
    assert f"{url}/#/runs/details/{run['run_id']}" in out and "SUCCEEDED" in out

    fake.run_outcome = "FAILED"
    assert openct(url, "submit", "--experiment", "openct", "--wait", "--poll", "0.05") == cli.EXIT_FAILED
    assert len(fake.experiments) == 1  # the experiment is reused, not duplicated

    # A canceled run ends the wait at once (kfp's own wait_for_run_completion would poll it until
    # the timeout); the double's states are KFP's V2beta1RuntimeState names (run.proto:237-250).
    fake.run_outcome = "CANCELED"
    started = time.monotonic()
    assert (
        openct(url, "submit", "--experiment", "openct", "--wait", "--poll", "0.05", "--timeout", "30")
        == cli.EXIT_FAILED
    )
    assert time.monotonic() - started < 10 and "CANCELED" in capsys.readouterr().out


def test_schedule_replaces_by_name_and_unschedule_removes(kfp, spec_path, capsys):
    fake, url = kfp
    openct(url, "upload", "--spec", str(spec_path))
    assert openct(url, "schedule", "--name", "nightly", "--cron", "0 0 2 * * *") == 0
    assert openct(url, "schedule", "--name", "nightly", "--cron", "0 30 3 * * *", "--param", "window_spans=4") == 0
    [rec] = fake.recurring.values()
    assert rec["display_name"] == "nightly" and rec["trigger"]["cron_schedule"]["cron"] == "0 30 3 * * *"
    assert rec["max_concurrency"] in (1, "1") and rec["no_catchup"] is True and rec["mode"] == "ENABLE"
    assert rec["runtime_config"]["parameters"] == {"window_spans": 4}
    assert "replaced 1" in capsys.readouterr().out
    assert openct(url, "unschedule", "--name", "nightly") == 0
    assert fake.recurring == {}
    # Both deletes (the replaced schedule's and unschedule's) leave the runs they started to finish:
    # without ORPHAN, KFP's delete takes the active run's Argo workflow with it (kfp_client.delete_recurring_run).
    deletes = [query for method, path, query, _ in fake.requests if method == "DELETE"]
    assert len(deletes) == 2 and all(q.get("propagation_policy") == "ORPHAN" for q in deletes), deletes
    assert openct(url, "unschedule", "--name", "nightly") == 0
    assert "none found" in capsys.readouterr().out


def test_bad_input_is_refused_before_any_change(kfp, spec_path, capfd):
    # capfd: error lines go to the terminal's descriptor while descriptor 2 is the library log
    fake, url = kfp
    assert openct(url, "schedule", "--cron", "0 2 * * *") == cli.EXIT_FAILED  # 5 fields
    assert "6 fields" in capfd.readouterr().err
    assert openct(url, "submit") == cli.EXIT_FAILED  # nothing uploaded yet
    assert "make upload" in capfd.readouterr().err
    assert openct(url, "upload", "--spec", str(spec_path.parent / "missing.yaml")) == cli.EXIT_FAILED
    assert [r for r in fake.requests if r[0] != "GET"] == []


def test_the_double_enforces_the_api_models(kfp, spec_path):
    fake, url = kfp
    openct(url, "upload", "--spec", str(spec_path))
    client = kfp_client.connect(url)
    with pytest.raises(kfp_server_api.ApiException, match="not an input"):
        kfp_client.submit(client, url, "openct", "openct", None, {"no_such_param": 1})
    with pytest.raises(kfp_double.BadRequest, match="no field 'displayName'"):
        kfp_double.check_model({"displayName": "x"}, "V2beta1Run", "run")


def test_runs_lists_recent_runs(kfp, spec_path, capsys):
    fake, url = kfp
    openct(url, "upload", "--spec", str(spec_path))
    openct(url, "submit", "--run-name", "first")
    openct(url, "submit", "--run-name", "second")
    capsys.readouterr()
    assert openct(url, "runs") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith("second") and lines[2].endswith("first")


def test_trigger_on_kfp_starts_one_run_per_new_span(kfp, spec_path, tmp_path, capsys):
    """New span on disk, none in ML Metadata: one KFP run on that span; none while it is active."""
    fake, url = kfp
    openct(url, "upload", "--spec", str(spec_path))
    (tmp_path / "data" / "span-7").mkdir(parents=True)
    (tmp_path / "data" / "span-7" / "data.csv").write_text("a,b\n1,2\n")
    flags = [
        "--kfp",
        "--data-root",
        str(tmp_path / "data"),
        "--pipeline-root",
        str(tmp_path / "p"),
        "--serving-dir",
        str(tmp_path / "serving"),
    ]
    assert openct(url, "trigger", *flags) == 0
    [run] = fake.runs.values()
    assert run["runtime_config"]["parameters"] == {"span": 7} and run["display_name"] == "new-span-7"
    assert openct(url, "trigger", *flags) == cli.EXIT_NOTHING  # the first run is still PENDING
    assert len(fake.runs) == 1
    out = capsys.readouterr().out
    assert "still active" in out and "decided by rule in-flight" in out
    # KFP then loses the run's workflow (as after deleting its recurring run without ORPHAN): the
    # run stays CANCELING for good (pipelines/ct/triggers.py, CANCEL_GRACE). Past the grace it no
    # longer blocks, and the trigger says which run it is and what to do.
    run["state"], run["state_history"] = "CANCELING", [{"update_time": "2026-11-23T09:00:00Z", "state": "RUNNING"}]
    fake.run_outcome = "CANCELING"
    assert openct(url, "trigger", *flags) == 0
    out = capsys.readouterr().out
    assert len(fake.runs) == 2, out
    assert f"warning: KFP run {run['run_id']} (new-span-7) has been CANCELING since 2026-11-23 09:00 UTC" in out
    assert "started KFP run" in out


def test_wait_follows_a_run_through_the_api_servers_transient_errors():
    """Measured on KFP 2.17 on kind: with MariaDB restarted mid-run, the next get_run answered HTTP
    500 (code 13, `Failed to get run: invalid connection`) and the API recovered; the run
    SUCCEEDED. wait() keeps following it; a 404 is an answer and is raised."""

    class Flaky:
        def __init__(self, errors):
            self.errors = list(errors)

        def get_run(self, run_id):
            if self.errors:
                raise kfp_server_api.ApiException(status=self.errors.pop(0), reason="Internal Server Error")
            return kfp_server_api.V2beta1Run(run_id=run_id, state="SUCCEEDED")

    assert kfp_client.wait(Flaky([500, 503]), "r1", timeout=10, poll=0.01) == "SUCCEEDED"
    with pytest.raises(kfp_server_api.ApiException):
        kfp_client.wait(Flaky([404]), "r1", timeout=10, poll=0.01)
