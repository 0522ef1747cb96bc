"""Kubeflow Pipelines client: upload the compiled spec, start runs, schedule recurring runs.

Thin policy over `kfp.Client` (the KFP REST API v2beta1): the rules are ours, the calls are kfp's.
  * upload is idempotent: one pipeline per name, one version per (git commit, spec content hash);
  * a run goes into a named experiment, on a chosen version or the newest one;
  * a recurring run is identified by its name: scheduling again replaces it; KFP's 6-field cron,
    one run at a time (max_concurrency=1) and no backfill of missed slots (no_catchup).
The host comes from KFP_HOST (default: the port-forwarded UI, http://localhost:8080).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

DEFAULT_HOST = "http://localhost:8080"
FINISHED = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED", "ERROR")


def host_from_env(host: str | None = None) -> str:
    return (host or os.environ.get("KFP_HOST") or DEFAULT_HOST).rstrip("/")


def connect(host: str):
    import kfp

    try:
        return kfp.Client(host=host)  # asks the server's health endpoint first
    except Exception as exc:  # noqa: BLE001 - urllib3/ApiException/TimeoutError: all mean "not reachable"
        raise ConnectionError(
            f"cannot reach Kubeflow Pipelines at {host} ({type(exc).__name__}); "
            f"port-forward the KFP UI (kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80) or set KFP_HOST"
        ) from None


def _equals(key: str, value: str) -> str:
    """A KFP API filter (filter.proto, JSON): `key` equals `value`."""
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "stringValue": value}]})


def version_name(spec_path: str | Path, repo: str | Path = ".") -> str:
    """`<git commit>-<spec sha256[:12]>`: the same sources give the same name (and one version)."""
    digest = hashlib.sha256(Path(spec_path).read_bytes()).hexdigest()[:12]
    if os.environ.get("OPENCT_GIT_COMMIT"):  # set by the Makefile: git may be absent in the userland
        return f"{os.environ['OPENCT_GIT_COMMIT']}-{digest}"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=10", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "nogit"
    return f"{commit}-{digest}"


@dataclasses.dataclass(frozen=True)
class Version:
    pipeline_id: str
    version_id: str
    name: str
    created: bool = False


def upload(client, spec_path: str | Path, pipeline_name: str, name: str) -> Version:
    """Creates the pipeline if absent, then the version `name` if absent."""
    if not Path(spec_path).is_file():
        raise FileNotFoundError(f"{spec_path}: no compiled pipeline; run `make compile` first")
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(
            str(spec_path), pipeline_name=pipeline_name, description="openct continuous training (TFX on KFP)"
        ).pipeline_id
    existing = find_version(client, pipeline_id, name)
    if existing:
        return existing
    created = client.upload_pipeline_version(str(spec_path), pipeline_version_name=name, pipeline_id=pipeline_id)
    return Version(pipeline_id, created.pipeline_version_id, name, created=True)


def find_version(client, pipeline_id: str, name: str | None) -> Version | None:
    """The version called `name`, or the newest one when `name` is None or 'latest'."""
    if name in (None, "", "latest"):
        found = client.list_pipeline_versions(pipeline_id, page_size=1, sort_by="created_at desc")
    else:
        found = client.list_pipeline_versions(pipeline_id, page_size=2, filter=_equals("display_name", name))
    versions = found.pipeline_versions or []
    if not versions:
        return None
    return Version(pipeline_id, versions[0].pipeline_version_id, versions[0].display_name)


def resolve(client, pipeline_name: str, version: str | None) -> Version:
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        raise LookupError(f"no pipeline {pipeline_name!r} on the server; run `make upload` first")
    found = find_version(client, pipeline_id, version)
    if found is None:
        raise LookupError(f"pipeline {pipeline_name!r} has no version {version or '(none)'!r}")
    return found


def submit(
    client,
    host: str,
    pipeline_name: str,
    experiment: str,
    version: str | None,
    params: dict[str, Any],
    run_name: str | None = None,
    service_account: str | None = None,
) -> tuple[str, str]:
    """Starts a run; returns (run id, UI link)."""
    target = resolve(client, pipeline_name, version)
    experiment_id = client.create_experiment(name=experiment).experiment_id  # gets it if it exists
    run = client.run_pipeline(
        experiment_id=experiment_id,
        job_name=run_name or f"{pipeline_name} {target.name}",
        pipeline_id=target.pipeline_id,
        version_id=target.version_id,
        params=params,
        service_account=service_account or None,
    )
    return run.run_id, f"{host}/#/runs/details/{run.run_id}"


def wait(client, run_id: str, timeout: float, poll: float = 10.0) -> str:
    """Follows a run to its end; returns its final state (SUCCEEDED, FAILED, CANCELED, ...).

    Not kfp's `wait_for_run_completion`: in kfp 2.17.0 it stops only on succeeded, failed,
    skipped and error (sdk/python/kfp/client/client.py:1384), so a canceled run (CANCELED,
    backend/api/v2beta1/run.proto:247) is polled until the timeout."""
    from kfp_server_api.exceptions import ApiException

    deadline = time.monotonic() + timeout
    while True:
        try:
            state = (client.get_run(run_id).state or "UNKNOWN").upper()
        except ApiException as exc:
            # A 5xx is the API server's, not the run's: measured on KFP 2.17 with MariaDB
            # restarted mid-run, the next get_run answered 500 `Failed to get run: invalid
            # connection` (a pooled connection to the old database), then recovered; the run
            # itself SUCCEEDED. Keep following it; anything else (404, 403) is an answer.
            if exc.status is None or exc.status < 500:
                raise
            state = f"UNKNOWN (the API answered {exc.status}: {exc.reason})"
        if state in FINISHED:
            return state
        if time.monotonic() + poll > deadline:
            raise TimeoutError(f"run {run_id} still {state} after {timeout:.0f} s")
        time.sleep(poll)


def validate_cron(cron: str) -> str:
    fields = cron.split()
    if len(fields) != 6:
        raise ValueError(
            f"cron {cron!r}: KFP wants 6 fields (seconds minutes hours day-of-month month "
            f"day-of-week), e.g. '0 0 2 * * *' for 02:00 every day"
        )
    return " ".join(fields)


def recurring_runs_named(client, experiment_id: str, name: str) -> list:
    found = client.list_recurring_runs(experiment_id=experiment_id, page_size=100, filter=_equals("display_name", name))
    return [r for r in (found.recurring_runs or []) if r.display_name == name]


def schedule(
    client,
    pipeline_name: str,
    experiment: str,
    name: str,
    cron: str,
    version: str | None,
    params: dict[str, Any],
    service_account: str | None = None,
) -> tuple[str, int]:
    """Creates, or replaces, the recurring run `name`; returns (its id, how many it replaced)."""
    cron = validate_cron(cron)
    target = resolve(client, pipeline_name, version)
    experiment_id = client.create_experiment(name=experiment).experiment_id
    replaced = recurring_runs_named(client, experiment_id, name)
    for old in replaced:
        delete_recurring_run(client, old.recurring_run_id)
    created = client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name,
        description=f"{pipeline_name} {target.name} on '{cron}'",
        cron_expression=cron,
        max_concurrency=1,
        no_catchup=True,
        pipeline_id=target.pipeline_id,
        version_id=target.version_id,
        params=params,
        enabled=True,
        service_account=service_account or None,
    )
    return created.recurring_run_id, len(replaced)


def unschedule(client, experiment: str, name: str) -> int:
    """Deletes the recurring run(s) called `name`; returns how many."""
    experiment_id = client.create_experiment(name=experiment).experiment_id
    found = recurring_runs_named(client, experiment_id, name)
    for old in found:
        delete_recurring_run(client, old.recurring_run_id)
    return len(found)


def delete_recurring_run(client, recurring_run_id: str) -> None:
    """Deletes a recurring run, leaving the runs it started to finish.

    KFP deletes the recurring run's ScheduledWorkflow, and Kubernetes' garbage collector then
    deletes every Argo Workflow it owns (the owner reference: backend/src/crd/controller/
    scheduledworkflow/util/scheduled_workflow.go:188 at 2.17.0), so `kfp.Client.delete_recurring_run`
    kills a run in progress mid-task and leaves it CANCELING for good. KFP passes a propagation
    policy to that delete (backend/src/apiserver/resource/resource_manager.go:1458-1474); ORPHAN
    keeps the workflows."""
    client._recurring_run_api.recurring_run_service_delete_recurring_run(  # noqa: SLF001 - kfp.Client has no parameter for it
        recurring_run_id=recurring_run_id, propagation_policy="ORPHAN"
    )


def recent_runs(client, limit: int = 20) -> list[dict[str, Any]]:
    """The newest runs; `changed` is when KFP last recorded a state for the run (its newest
    state_history entry, else its creation), a timezone-aware datetime or None."""
    found = client.list_runs(page_size=limit, sort_by="created_at desc")
    return [
        {
            "run_id": r.run_id,
            "name": r.display_name or "",
            "state": (r.state or "").upper(),
            "created": str(r.created_at or ""),
            "finished": str(r.finished_at or ""),
            "changed": max((h.update_time for h in (r.state_history or []) if h.update_time), default=r.created_at),
        }
        for r in (found.runs or [])
    ]


def parse_params(items: list[str]) -> dict[str, Any]:
    """`name=value` pairs; numbers become numbers (the spec types them)."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"parameter {item!r}: expected NAME=VALUE")
        try:
            params[name] = int(raw)
        except ValueError:
            try:
                params[name] = float(raw)
            except ValueError:
                params[name] = raw
    return params
