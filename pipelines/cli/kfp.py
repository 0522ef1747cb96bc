"""`openct kfp ...`: compile the pipeline for Kubeflow Pipelines, upload it, run and schedule it."""

from __future__ import annotations

import argparse
from typing import Any

from pipelines.cli import EXIT_FAILED

NAME = "kfp"
HELP = "Kubeflow Pipelines: compile, upload, submit, schedule (KFP at --host or $KFP_HOST)"
NAME_ONLY = ("pipeline_name",)


def register(commands: Any) -> None:
    p = commands.add(
        "compile",
        cmd_compile,
        "compile the pipeline into a KFP v2 pipeline spec (YAML); the settings become the run parameters' defaults",
    )
    p.add_argument("--out", default="build/pipeline.yaml", help="where to write the spec")
    p.add_argument("--image", default=None, help="pipeline image, pinned tag or digest")
    p.add_argument("--metadata-service", default=None, help="grpc://HOST:PORT of ML Metadata in the cluster")
    p.add_argument(
        "--pvc",
        default=None,
        action=argparse.BooleanOptionalAction,
        help="mount the openct PersistentVolumeClaims (default yes; no for gs:// roots)",
    )
    p = _remote(commands.add("upload", cmd_upload, "upload the compiled spec as a new version (idempotent)", NAME_ONLY))
    p.add_argument("--spec", default="build/pipeline.yaml", help="compiled pipeline (make compile)")
    p.add_argument("--version", default=None, help="version name (default: <git commit>-<spec hash>)")
    p = _run_flags(_remote(commands.add("submit", cmd_submit, "start a run; --wait follows it to the end", NAME_ONLY)))
    p.add_argument("--run-name", default=None)
    p.add_argument("--wait", action="store_true", help="follow the run; exit 1 unless it succeeds")
    p.add_argument("--timeout", type=float, default=3 * 3600, help="seconds to wait (default 3 h)")
    p.add_argument("--poll", type=float, default=10.0, help="seconds between state checks")
    p = _run_flags(
        _remote(commands.add("schedule", cmd_schedule, "create or replace a recurring run (6-field cron)", NAME_ONLY))
    )
    p.add_argument("--name", default="openct-nightly", help="recurring run name (its identity)")
    p.add_argument("--cron", default="0 0 2 * * *", help="6-field cron (default 02:00 daily)")
    p = _remote(commands.add("unschedule", cmd_unschedule, "delete a recurring run by name", ()))
    p.add_argument("--experiment", default="openct", help="KFP experiment")
    p.add_argument("--name", default="openct-nightly", help="recurring run name")
    p = _remote(commands.add("runs", cmd_runs, "list recent runs and their states", ()))
    p.add_argument("--limit", type=int, default=20)
    p = _remote(
        commands.add(
            "timings",
            cmd_timings,
            "where a finished run's time went: driver pods, pod start-up, the nodes' own work (needs kubectl access)",
            (),
        )
    )
    p.add_argument("--run", default=None, help="KFP run id (default: the newest finished run)")
    p.add_argument("--namespace", default="kubeflow", help="namespace of the run's pods")
    p.add_argument("--json", default=None, help="also write the timings here as JSON")


def _remote(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--host", default=None, help="KFP API/UI address (default $KFP_HOST or http://localhost:8080)")
    return p


def _run_flags(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_run_flags(p)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run parameter, repeatable (e.g. --param train_steps=500)",
    )
    return p


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """What starting a KFP run needs (also `openct ct trigger --kfp`)."""
    p.add_argument("--experiment", default="openct", help="KFP experiment (created if absent)")
    p.add_argument("--version", default=None, help="pipeline version name (default: the newest)")
    p.add_argument(
        "--service-account", default=None, help="Kubernetes service account of the run's pods (kind: openct-pipeline)"
    )


def connect(args: argparse.Namespace) -> tuple[Any, str, Any]:
    from pipelines.runners import kfp_client

    host = kfp_client.host_from_env(args.host)
    return kfp_client, host, kfp_client.connect(host)


def cmd_compile(config: Any, args: argparse.Namespace) -> int:
    from pipelines.runners.kubeflow import KfpTarget, compile_kfp

    target = KfpTarget(
        **{
            k: v
            for k, v in (("image", args.image), ("metadata", args.metadata_service), ("use_pvc", args.pvc))
            if v is not None
        }
    )
    digest = compile_kfp(config, target, args.out)
    print(f"wrote {args.out} (KFP pipeline spec, sha256 {digest}, image {target.image})")
    return 0


def cmd_upload(config: Any, args: argparse.Namespace) -> int:
    kfp_client, host, client = connect(args)
    name = args.version or kfp_client.version_name(args.spec)
    version = kfp_client.upload(client, args.spec, config.pipeline_name, name)
    state = "uploaded" if version.created else "already there (nothing uploaded)"
    print(
        f"pipeline '{config.pipeline_name}' version '{version.name}': {state}\n"
        f"  {host}/#/pipelines/details/{version.pipeline_id}/version/{version.version_id}"
    )
    return 0


def start_run(
    config: Any, args: argparse.Namespace, client: Any, host: str, params: dict[str, Any], run_name: str | None
) -> tuple[str, str]:
    """A run of the uploaded pipeline with `args`' experiment, version and service account."""
    from pipelines.runners import kfp_client

    return kfp_client.submit(
        client, host, config.pipeline_name, args.experiment, args.version, params, run_name, args.service_account
    )


def cmd_submit(config: Any, args: argparse.Namespace) -> int:
    kfp_client, host, client = connect(args)
    run_id, link = start_run(config, args, client, host, kfp_client.parse_params(args.param), args.run_name)
    print(f"run {run_id} started in experiment '{args.experiment}': {link}", flush=True)
    if not args.wait:
        return 0
    state = kfp_client.wait(client, run_id, timeout=args.timeout, poll=args.poll)
    print(f"run {run_id}: {state}")
    return 0 if state == "SUCCEEDED" else EXIT_FAILED


def cmd_schedule(config: Any, args: argparse.Namespace) -> int:
    kfp_client, host, client = connect(args)
    job_id, replaced = kfp_client.schedule(
        client,
        config.pipeline_name,
        args.experiment,
        args.name,
        args.cron,
        args.version,
        kfp_client.parse_params(args.param),
        args.service_account,
    )
    print(
        f"recurring run '{args.name}' ({args.cron}, one at a time, no catch-up): {job_id}"
        + (f" (replaced {replaced})" if replaced else "")
        + f"\n  {host}/#/recurringrun/details/{job_id}"
    )
    return 0


def cmd_unschedule(config: Any, args: argparse.Namespace) -> int:
    kfp_client, host, client = connect(args)
    count = kfp_client.unschedule(client, args.experiment, args.name)
    print(f"recurring run '{args.name}': " + (f"deleted ({count})" if count else "none found; nothing to do"))
    return 0


def cmd_runs(config: Any, args: argparse.Namespace) -> int:
    kfp_client, host, client = connect(args)
    rows = kfp_client.recent_runs(client, args.limit)
    print(f"{'state':<10} {'created':<26} {'run id':<37} name")
    for r in rows:
        print(f"{r['state']:<10} {r['created'][:25]:<26} {r['run_id']:<37} {r['name']}")
    if not rows:
        print("(no runs)")
    return 0


def cmd_timings(config: Any, args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    from pipelines.runners import kfp_timings

    kfp_client, host, client = connect(args)
    run_id = args.run or next(
        (r["run_id"] for r in kfp_client.recent_runs(client, 50) if r["state"] in kfp_client.FINISHED), None
    )
    if run_id is None:
        raise LookupError(f"no finished run at {host}")
    run = client.get_run(run_id)
    k8s_config.load_kube_config()
    core = k8s.CoreV1Api()
    found = core.list_namespaced_pod(args.namespace, label_selector=f"{kfp_timings.RUN_LABEL}={run_id}").items
    if not found:
        raise LookupError(f"no pods of run {run_id} in namespace {args.namespace} (Argo may have deleted them)")
    pods = [core.api_client.sanitize_for_serialization(p) for p in found]
    logs = {}
    for pod in found:
        if kfp_timings.is_executor(pod.metadata.annotations.get(kfp_timings.NODE_NAME, "")):
            logs[pod.metadata.name] = core.read_namespaced_pod_log(pod.metadata.name, args.namespace, container="main")
    timings = kfp_timings.task_timings(pods, logs)
    done = (run.state or "").upper() in kfp_client.FINISHED
    wall = (run.finished_at - run.created_at).total_seconds() if done else None
    print(f"run {run_id} ({run.display_name}): {run.state}" + ("" if wall is None else f", {wall:.0f} s wall"))
    print(f"{'task':<18} {'driver':>7} {'handoff':>7} {'start-up':>8} {'process':>8} {'work':>6} {'overhead':>8}")
    for t in timings:
        work = "-" if t.work is None else f"{t.work:.1f}"
        print(
            f"{t.task:<18} {t.driver:7.0f} {t.handoff:7.0f} {t.startup:8.0f} {t.process:8.0f} {work:>6} {t.overhead:8.1f}"
        )
    numbers = kfp_timings.summary(timings)
    if numbers:
        print(
            f"median per task: overhead {numbers['median_overhead']:.1f} s (driver pod {numbers['median_driver']:.0f} s, "
            f"driver to executor {numbers['median_handoff']:.0f} s, "
            f"executor start-up {numbers['median_startup']:.0f} s, process minus work "
            f"{numbers['median_process_minus_work']:.1f} s); nodes' own work {numbers['work']:.1f} s in all"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"run_id": run_id, "wall": wall, "summary": numbers, "tasks": [dataclasses.asdict(t) for t in timings]},
                f,
                indent=1,
            )
    return 0
