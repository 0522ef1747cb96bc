"""The cluster end to end (`make e2e`): our pipeline on a real Kubeflow Pipelines 2.17 on kind.

Eight scenarios, in order, each checked against what KFP, Argo, ML Metadata, the object store and
the volumes really hold:
  1. a run on the newest span SUCCEEDS, pushes the next version onto the models volume, and every
     TFX node's HTML view is in KFP's object store;
  2. a new span: the next run ingests only it, trains, pushes the next version, under its own run id;
  3. a recurring run every minute fires at least twice and never overlaps, each run all cached
     (nothing new); deleting it while a run is active leaves that run to finish;
  4. a span whose label input is zero on every row: the run FAILS at the gate, the gate's log and
     view name the anomaly, nothing is pushed, the previous version still serves (after the
     recurring run: every later run on that newest span fails at the gate again, as it should);
  5. a Job made from the trigger CronJob starts exactly one run for a new span, and none when
     nothing is new;
  6. `openct ct status` and `ct history` read the cluster's ML Metadata and show the runs above;
  7. Trainer's container killed mid-work (SIGKILL to every process in it, as the kernel's OOM
     kill does): Argo retries it (kustomize/kfp/patches/argo-retry.yaml), the run SUCCEEDS and
     pushes once; the blocked run of scenario 4 ran its gate once (a refusal is never retried);
  8. the pipeline compiled with an alert webhook (a version of its own, deleted after): a run that
     pushes alerts nobody; a blocked run alerts from its exit handler with the gate's anomalies.

Needs (`make test-e2e-cluster` sets them after `make cluster kfp image deploy upload`): KFP_HOST,
OPENCT_METADATA (the cluster's ML Metadata, grpc://localhost:8808), the kind volumes under
build/kind-volumes, and a kubeconfig for the cluster (pod logs, exec, the CronJob).
About 31 minutes on a 2-core machine.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

import pytest

from components.checks import span_period
from components.versions import served_versions
from pipelines import cli, lineage
from pipelines.data.dataset import CHICAGO_TAXI
from pipelines.data.spans import existing_spans, span_path
from pipelines.reports.summary import span_ranges
from pipelines.runners import kfp_client, kfp_timings, kubeflow
from tests import kfp_spec

REPO = Path(__file__).resolve().parent.parent
VOLUMES = Path(os.environ.get("OPENCT_KIND_VOLUMES", REPO / "build" / "kind-volumes"))
DATA = VOLUMES / "pipeline" / "data"
PIPELINE_ROOT = VOLUMES / "pipeline" / "tfx"
MODELS = VOLUMES / "models" / "taxi"
NAMESPACE = "kubeflow"
PIPELINE = "openct"
SERVICE_ACCOUNT = "openct-pipeline"
RUN_TIMEOUT = float(os.environ.get("OPENCT_KFP_TIMEOUT", "1800"))


def _missing() -> str | None:
    if not os.environ.get("KFP_HOST") or not os.environ.get("OPENCT_METADATA"):
        return "needs KFP_HOST and OPENCT_METADATA (make test-e2e-cluster after make cluster kfp image deploy upload)"
    if not DATA.is_dir():
        return f"needs the spans under {DATA} (make deploy)"
    return None


pytestmark = [pytest.mark.cluster, pytest.mark.skipif(bool(_missing()), reason=_missing() or "")]


class Cluster:
    """The deployed KFP, its ML Metadata, the volumes and the Kubernetes API, and what the
    scenarios leave for the next one."""

    def __init__(self) -> None:
        from kubernetes import client, config

        config.load_kube_config()
        self.core, self.batch = client.CoreV1Api(), client.BatchV1Api()
        self.host = kfp_client.host_from_env()
        self.kfp = kfp_client.connect(self.host)
        self.metadata = os.environ["OPENCT_METADATA"]
        self.experiment = f"openct-e2e-{uuid.uuid4().hex[:6]}"
        self.runs: dict[str, str] = {}  # scenario -> KFP run id

    def submit(self, span: int, name: str) -> tuple[str, str]:
        run_id, _ = kfp_client.submit(
            self.kfp, self.host, PIPELINE, self.experiment, None, {"span": span}, name, SERVICE_ACCOUNT
        )
        return run_id, kfp_client.wait(self.kfp, run_id, timeout=RUN_TIMEOUT, poll=5)

    def experiment_runs(self) -> list:
        experiment_id = self.kfp.create_experiment(name=self.experiment).experiment_id
        found = self.kfp.list_runs(experiment_id=experiment_id, page_size=100, sort_by="created_at asc")
        return list(found.runs or [])

    def history(self) -> dict[str, lineage.RunRecord]:
        with lineage.open_store(self.metadata) as store:
            return {r.run_id.split(":")[0]: r for r in lineage.runs(store, PIPELINE)}

    def exec(self, pod: str, command: list[str]) -> str:
        from kubernetes.stream import stream

        return stream(
            self.core.connect_get_namespaced_pod_exec,
            pod,
            NAMESPACE,
            command=command,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )

    def pod(self, label: str) -> str:
        return self.core.list_namespaced_pod(NAMESPACE, label_selector=label).items[0].metadata.name

    def task_logs(self, run_id: str) -> dict[str, str]:
        """The `main` container's log of every executor pod of a run, by Argo node name. (KFP's
        task details name Argo node ids, not pods: the pods are found by their run label.)"""
        logs = {}
        label = f"{kfp_timings.RUN_LABEL}={run_id}"
        for pod in self.core.list_namespaced_pod(NAMESPACE, label_selector=label).items:
            node = pod.metadata.annotations.get(kfp_timings.NODE_NAME, "")
            if kfp_timings.is_executor(node):
                logs[node] = self.core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE, container="main")
        return logs


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return Cluster()


def copy_span(source: int, target: int, tips: str | None = None) -> None:
    """Span `source`'s rows moved into span `target`'s period (as the data root's layout says),
    optionally with every `tips` replaced: a new span only its own period makes different. Each
    trip's `trip_seconds` moves by 1-59 s (set by the target), so the rows are new trips: the
    data checks block a span whose rows repeat an earlier span's (a re-delivered export), time
    aside; 0.04% of the sample's trips have no trip_seconds and stay as they were."""
    layout = json.loads((DATA / "layout.json").read_text())
    source_period, target_period = span_period(layout, source), span_period(layout, target)
    assert source_period and target_period, f"{DATA / 'layout.json'} has no periods"
    (start, _), (target_start, target_end) = source_period, target_period
    with open(span_path(DATA, source), newline="") as f:
        header, *rows = list(csv.reader(f))
    ts, tip, seconds = (header.index(c) for c in (CHICAGO_TAXI.timestamp_column, "tips", "trip_seconds"))
    moved = []
    for i, row in enumerate(rows):
        row = list(row)
        row[ts] = str(int(row[ts]) + int(target_start - start))
        if row[seconds]:
            row[seconds] = str(int(float(row[seconds])) + 1 + (target * 31 + i) % 59)
        if tips is not None:
            row[tip] = tips
        if int(row[ts]) < target_end:
            moved.append(row)
    out = span_path(DATA, target)
    out.parent.mkdir(mode=0o755)
    with open(out, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(moved)
    out.chmod(0o644)


def newest_clean_span() -> int:
    """The newest span on disk whose label input is not zeroed (scenario 3's corruption), the
    source of a scenario's new span."""
    for span in reversed(existing_spans(str(DATA))):
        with open(span_path(DATA, span), newline="") as f:
            header, *rows = list(csv.reader(f))
        tip = header.index("tips")
        if any(row[tip] != "0" for row in rows):
            return span
    raise AssertionError(f"no clean span under {DATA}")


def object_exists(cluster: Cluster, uri: str) -> bool:
    """Whether KFP's object store holds `uri` (minio://mlpipeline/KEY), asked of SeaweedFS's filer
    inside its pod (the bucket is the filer's /buckets/mlpipeline)."""
    key = uri.removeprefix("minio://mlpipeline/")
    out = cluster.exec(
        cluster.pod("app=seaweedfs"),
        ["sh", "-c", f"wget -q -O /dev/null http://127.0.0.1:8888/buckets/mlpipeline/{key} && echo found"],
    )
    return "found" in out


def test_1_first_run_succeeds_pushes_and_uploads_every_view(cluster):
    span = existing_spans(str(DATA))[-1]
    with lineage.open_store(cluster.metadata) as store:
        if span in lineage.ingested_spans(store):  # a cluster an earlier e2e ran on: a span of its own
            span += 1
            copy_span(newest_clean_span(), span)
    before = served_versions(str(MODELS))
    run_id, state = cluster.submit(span, f"e2e-1-span-{span}")
    assert state == "SUCCEEDED", cluster.task_logs(run_id)
    cluster.runs["first"] = run_id
    after = served_versions(str(MODELS))
    assert after == [*before, (before[-1] if before else 0) + 1], (before, after)
    assert (MODELS / str(after[-1]) / "saved_model.pb").exists()
    # KFP's launcher records each task's `view` output in ML Metadata with its object-store URI
    with lineage.open_store(cluster.metadata) as store:
        [context] = [c for c in store.get_contexts_by_type("system.PipelineRun") if c.name == run_id]
        views = [a for a in store.get_artifacts_by_context(context.id) if a.uri.endswith("/view")]
    record = cluster.history()[run_id]
    assert record.spans == [span] and record.outcome == f"pushed v{after[-1]}"
    spec, _ = kfp_spec.load(kfp_spec.SPEC)  # what `make upload` compiled and uploaded
    assert len(views) == len(kfp_spec.root_tasks(spec)), [v.uri for v in views]  # a view per task
    assert all(object_exists(cluster, v.uri) for v in views), [v.uri for v in views]


def test_2_a_new_span_is_ingested_and_pushes_the_next_version(cluster):
    span = existing_spans(str(DATA))[-1] + 1
    copy_span(newest_clean_span(), span)
    before = served_versions(str(MODELS))
    run_id, state = cluster.submit(span, f"e2e-2-span-{span}")
    assert state == "SUCCEEDED", cluster.task_logs(run_id)
    cluster.runs["second"] = run_id
    record = cluster.history()[run_id]
    assert record.spans == [span], record  # only the new span was ingested
    assert run_id != cluster.runs["first"]
    after = served_versions(str(MODELS))
    assert record.outcome == f"pushed v{after[-1]}" and after == [*before, before[-1] + 1], (record, before, after)


def test_3_a_recurring_run_fires_twice_without_overlap_and_unscheduling_lets_it_finish(cluster):
    name = f"e2e-every-minute-{uuid.uuid4().hex[:4]}"
    assert (
        cli.main(
            [
                "kfp",
                "schedule",
                "--experiment",
                cluster.experiment,
                "--name",
                name,
                "--cron",
                "0 * * * * *",
                "--service-account",
                SERVICE_ACCOUNT,
            ]
        )
        == 0
    )
    experiment_id = cluster.kfp.create_experiment(name=cluster.experiment).experiment_id
    [recurring] = kfp_client.recurring_runs_named(cluster.kfp, experiment_id, name)
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        scheduled = [r for r in cluster.experiment_runs() if r.recurring_run_id == recurring.recurring_run_id]
        if len(scheduled) >= 3 or (len(scheduled) >= 2 and (scheduled[-1].state or "") == "RUNNING"):
            break
        assert time.monotonic() < deadline, [(r.run_id, r.state) for r in scheduled]
        time.sleep(10)
    active = [r for r in scheduled if (r.state or "").upper() in ("PENDING", "RUNNING")]
    assert cli.main(["kfp", "unschedule", "--experiment", cluster.experiment, "--name", name]) == 0
    for run in active:  # deleted with ORPHAN: the run's workflow stays and finishes
        assert kfp_client.wait(cluster.kfp, run.run_id, timeout=RUN_TIMEOUT, poll=5) == "SUCCEEDED"
    scheduled = [
        cluster.kfp.get_run(r.run_id)
        for r in cluster.experiment_runs()
        if r.recurring_run_id == recurring.recurring_run_id
    ]
    assert len(scheduled) >= 2
    for earlier, later in zip(scheduled, scheduled[1:], strict=False):  # max_concurrency=1
        assert earlier.finished_at and later.created_at >= earlier.finished_at, (earlier, later)
    assert all((r.state or "").upper() == "SUCCEEDED" for r in scheduled), [(r.run_id, r.state) for r in scheduled]
    history = cluster.history()
    for run in scheduled:  # nothing new: every node a cache hit, nothing pushed
        assert history[run.run_id].outcome == "unchanged", history[run.run_id]


def test_4_a_corrupted_span_stops_at_the_gate_and_nothing_is_pushed(cluster):
    span = existing_spans(str(DATA))[-1] + 1
    copy_span(newest_clean_span(), span, tips="0")
    before = served_versions(str(MODELS))
    run_id, state = cluster.submit(span, f"e2e-4-span-{span}-no-tips")
    assert state == "FAILED"
    cluster.runs["blocked"] = run_id
    gate_logs = [log for log in cluster.task_logs(run_id).values() if "step ValidationGate" in log]
    assert gate_logs and "big_tipper" in gate_logs[0] and "LABEL" in gate_logs[0], gate_logs
    page = (PIPELINE_ROOT / "views" / run_id / "ValidationGate.html").read_text()
    assert "big_tipper" in page and "LABEL" in page
    assert served_versions(str(MODELS)) == before
    assert cluster.history()[run_id].outcome.startswith("blocked"), cluster.history()[run_id]


def trigger_once(cluster: Cluster) -> str:
    """A Job from the trigger CronJob's template (`kubectl create job --from=cronjob/...`); its log."""
    from kubernetes import client

    cron = cluster.batch.read_namespaced_cron_job("openct-trigger", NAMESPACE)
    name = f"openct-trigger-e2e-{uuid.uuid4().hex[:6]}"
    job = client.V1Job(metadata=client.V1ObjectMeta(name=name), spec=cron.spec.job_template.spec)
    cluster.batch.create_namespaced_job(NAMESPACE, job)
    deadline = time.monotonic() + 900
    while True:
        status = cluster.batch.read_namespaced_job_status(name, NAMESPACE).status
        if status.succeeded or status.failed:
            break
        assert time.monotonic() < deadline, f"trigger job {name} did not finish"
        time.sleep(5)
    pod = cluster.core.list_namespaced_pod(NAMESPACE, label_selector=f"job-name={name}").items[0].metadata.name
    log = cluster.core.read_namespaced_pod_log(pod, NAMESPACE)
    assert status.succeeded, log
    return log


def test_5_the_trigger_starts_exactly_one_run_for_a_new_span_and_none_otherwise(cluster):
    span = existing_spans(str(DATA))[-1] + 1
    copy_span(newest_clean_span(), span)
    since = dt.datetime.now(dt.UTC)
    log = trigger_once(cluster)
    started = [r for r in kfp_client.recent_runs(cluster.kfp, 20) if r["changed"] and r["changed"] >= since]
    assert len(started) == 1 and started[0]["name"].endswith(f"-{span}"), (started, log)
    assert f"started KFP run {started[0]['run_id']} on span {span}" in log
    cluster.runs["triggered"] = started[0]["run_id"]
    assert kfp_client.wait(cluster.kfp, started[0]["run_id"], timeout=RUN_TIMEOUT, poll=5) == "SUCCEEDED"
    since = dt.datetime.now(dt.UTC)
    log = trigger_once(cluster)
    assert "no new span" in log, log
    assert not [r for r in kfp_client.recent_runs(cluster.kfp, 20) if r["changed"] and r["changed"] >= since]


def test_6_status_and_history_read_the_clusters_ml_metadata(cluster, capsys):
    records = cluster.history()
    assert cli.main(["ct", "history", "--metadata", cluster.metadata]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert set(cluster.runs) == {"first", "second", "blocked", "triggered"}, cluster.runs
    for scenario, run_id in cluster.runs.items():  # one line each: spans and outcome
        record = records[run_id]
        assert any(span_ranges(record.spans) in line and line.endswith(record.outcome) for line in lines), (
            scenario,
            record,
            lines,
        )
    assert records[cluster.runs["blocked"]].outcome.startswith("blocked")
    # artifacts are recorded at the pods' mount (KfpTarget.pipeline_mount); here they are on the volume
    mapping = f"{kubeflow.KfpTarget().pipeline_mount}={VOLUMES / 'pipeline'}"
    assert (
        cli.main(
            [
                "ct",
                "status",
                "--metadata",
                cluster.metadata,
                "--serving-dir",
                str(MODELS.parent),
                "--artifacts-at",
                mapping,
            ]
        )
        == 0
    )
    status = capsys.readouterr().out
    newest = served_versions(str(MODELS))[-1]
    assert f"serving: v{newest}, the newest push" in status and "<- serving" in status, status


def workflow_nodes(cluster: Cluster, run_id: str) -> list[dict]:
    """The Argo workflow's nodes of a KFP run (kept an hour after it ends: KFP's ttlStrategy)."""
    from kubernetes import client

    found = client.CustomObjectsApi().list_namespaced_custom_object(
        "argoproj.io", "v1alpha1", NAMESPACE, "workflows", label_selector=f"{kfp_timings.RUN_LABEL}={run_id}"
    )
    return [n for w in found["items"] for n in w["status"].get("nodes", {}).values()]


def kill_container(cluster: Cluster, pod_name: str, container: str = "main") -> None:
    """Kills every process of a container at once through cgroup v2's cgroup.kill, from the kind
    node (a docker container named as the node): what the kernel does on an OOM kill of a container
    (memory.oom.group, set by the kubelet on cgroup v2), and the exit code is 137 the same way."""
    import subprocess

    pod = cluster.core.read_namespaced_pod(pod_name, NAMESPACE)
    (status,) = [c for c in pod.status.container_statuses if c.name == container]
    container_id = status.container_id.split("://")[-1]
    find = f"find /sys/fs/cgroup -type d -name '*{container_id}*' | head -1"
    cgroup = subprocess.run(["docker", "exec", pod.spec.node_name, "sh", "-c", find], capture_output=True, text=True)
    assert cgroup.stdout.strip(), f"no cgroup of {pod_name}/{container} on node {pod.spec.node_name}: {cgroup.stderr}"
    kill = f"echo 1 > {cgroup.stdout.strip()}/cgroup.kill"
    subprocess.run(["docker", "exec", pod.spec.node_name, "sh", "-c", kill], check=True)


def test_7_a_killed_trainer_is_retried_and_the_run_succeeds_pushing_once(cluster):
    span = existing_spans(str(DATA))[-1] + 1
    copy_span(newest_clean_span(), span)
    before = served_versions(str(MODELS))
    run_id, _ = kfp_client.submit(
        cluster.kfp,
        cluster.host,
        PIPELINE,
        cluster.experiment,
        None,
        {"span": span},
        f"e2e-7-kill-{span}",
        SERVICE_ACCOUNT,
    )
    label = f"{kfp_timings.RUN_LABEL}={run_id}"
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        running = [
            p
            for p in cluster.core.list_namespaced_pod(NAMESPACE, label_selector=label).items
            if "trainer(0).executor(0)" in p.metadata.annotations.get(kfp_timings.NODE_NAME, "")
            and p.status.phase == "Running"
        ]
        if running:
            break
        assert time.monotonic() < deadline, f"run {run_id} never reached Trainer"
        time.sleep(2)
    time.sleep(10)  # into its work
    kill_container(cluster, running[0].metadata.name)
    assert kfp_client.wait(cluster.kfp, run_id, timeout=RUN_TIMEOUT, poll=5) == "SUCCEEDED"
    trainer = {
        n["name"].rsplit(".", 1)[-1]: n for n in workflow_nodes(cluster, run_id) if ".trainer(0).executor(" in n["name"]
    }
    assert trainer["executor(0)"]["phase"] == "Failed" and trainer["executor(0)"]["outputs"]["exitCode"] == "137", (
        trainer
    )
    assert trainer["executor(1)"]["phase"] == "Succeeded", trainer
    assert served_versions(str(MODELS)) == [*before, before[-1] + 1]
    assert cluster.history()[run_id].outcome == f"pushed v{before[-1] + 1}", cluster.history()[run_id]
    gate = [n for n in workflow_nodes(cluster, cluster.runs["blocked"]) if ".validationgate(0).executor(" in n["name"]]
    assert [n["phase"] for n in gate if n["type"] == "Pod"] == ["Failed"], gate


def kind_host_address() -> str:
    """This machine's address on kind's Docker network, which pods reach (its gateway)."""
    import subprocess

    found = subprocess.run(
        ["docker", "network", "inspect", "kind", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return next(a for a in found.stdout.split() if "." in a)


def main_logs(cluster: Cluster, run_id: str) -> list[str]:
    """The `main` container's log of every pod of a run that has one (the exit handler's too)."""
    logs = []
    for pod in cluster.core.list_namespaced_pod(NAMESPACE, label_selector=f"{kfp_timings.RUN_LABEL}={run_id}").items:
        if any(c.name == "main" for c in pod.spec.containers):
            logs.append(cluster.core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE, container="main"))
    return logs


def test_8_an_exit_handler_alerts_on_a_blocked_run_and_not_on_a_pushed_one(cluster, tmp_path):
    from pipelines.config import PipelineConfig
    from pipelines.runners.kubeflow import KfpTarget, compile_kfp
    from tests.webhook_sink import WebhookSink

    sink = WebhookSink(host="0.0.0.0", advertise=kind_host_address())  # noqa: S104 - pods post to it
    spec = tmp_path / "alerting.yaml"
    compile_kfp(PipelineConfig(alert_webhook_url=sink.url), KfpTarget(), spec)
    version = kfp_client.upload(cluster.kfp, spec, PIPELINE, f"e2e-alerts-{uuid.uuid4().hex[:6]}")
    try:

        def run(span: int, name: str) -> tuple[str, str]:
            run_id, _ = kfp_client.submit(
                cluster.kfp,
                cluster.host,
                PIPELINE,
                cluster.experiment,
                version.name,
                {"span": span},
                name,
                SERVICE_ACCOUNT,
            )
            return run_id, kfp_client.wait(cluster.kfp, run_id, timeout=RUN_TIMEOUT, poll=5)

        span = existing_spans(str(DATA))[-1] + 1
        copy_span(newest_clean_span(), span)
        pushed_id, state = run(span, f"e2e-8-alerts-pushed-{span}")
        assert state == "SUCCEEDED" and cluster.history()[pushed_id].outcome.startswith("pushed")
        exit_logs = [log for log in main_logs(cluster, pushed_id) if "alert: run" in log]
        assert exit_logs and "nothing to tell" in exit_logs[0], main_logs(cluster, pushed_id)
        assert sink.bodies == []
        copy_span(newest_clean_span(), span + 1, tips="0")
        blocked_id, state = run(span + 1, f"e2e-8-alerts-blocked-{span + 1}")
        assert state == "FAILED"
        (body,) = sink.wait(1, timeout=120)
        (alert,) = body["alerts"]
        assert alert["labels"]["alertname"] == "OpenctSpanBlocked" and alert["labels"]["span"] == str(span + 1)
        assert alert["annotations"]["run"] == blocked_id
        assert "big_tipper" in alert["annotations"]["description"] and "LABEL" in alert["annotations"]["description"]
    finally:
        sink.close()
        cluster.kfp.delete_pipeline_version(version.pipeline_id, version.version_id)
