"""The `openct` command.

    openct run      [config flags]   cut missing spans, run the pipeline locally, print a summary
    openct spans    [--upto N]       cut the dataset's CSV into spans under --data-root
    openct schema                    infer a candidate schema from the spans, for review
    openct compile-ir --out FILE     the pipeline's TFX IR, for running node by node
    openct step --ir FILE --node ID --run-id R   one node, in this process (an orchestrator task)
    openct compile [--out build/pipeline.yaml]     the KFP v2 pipeline spec for Kubeflow Pipelines
    openct upload | submit [--wait] | schedule | unschedule | runs     Kubeflow Pipelines ($KFP_HOST)
    openct predict [--url http://localhost:8501]   TF Serving predictions on rows of the newest span

Exit codes of `run`: 0 pushed / not blessed / unchanged, 1 failed, 3 stopped by the data gate.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

EXIT_FAILED, EXIT_BLOCKED = 1, 3
KFP_COMMANDS = ("upload", "submit", "schedule", "unschedule", "runs")


def _quiet_libraries(verbose: bool) -> None:
    """TensorFlow, Beam and absl log at INFO by default: thousands of lines per run."""
    if verbose:
        logging.basicConfig(level=logging.INFO)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    for name in ("apache_beam", "tensorflow", "absl", "tensorflow_transform", "tfx", "ml_metadata"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore")


def _progress(node_id: str, index: int, total: int, result) -> None:
    if total == 0:  # a section header
        print(node_id, flush=True)
    elif result is None:
        print(f"[{index:2}/{total}] {node_id:<17} started", flush=True)
    else:
        where = ""
        for artifacts in result.outputs.values():
            if artifacts and artifacts[0].uri:
                where = f"-> {artifacts[0].uri}"
                break
        print(f"[{index:2}/{total}] {node_id:<17} {result.status:<8} {result.seconds:6.1f} s  {where}", flush=True)


def _prepare_spans(config, upto: int | None = None) -> None:
    from pipelines.spans import cut_spans

    spec = config.spec
    source = spec.source_path()
    if not source.is_file():
        raise SystemExit(f"error: dataset {spec.name!r}: source CSV not found: {source}")
    try:
        written, present = cut_spans(source, config.data_root, spec.timestamp_column, config.span_months, upto=upto)
    except ValueError as bad:  # names the file and line; nothing was written for the bad span
        raise SystemExit(f"error: cannot cut spans: {bad}") from None
    if written:
        print(f"spans: wrote {len(written)} new span(s) under {config.data_root}:", flush=True)
        for span in written:
            print(f"  {span.label}")
    print(f"spans: {len(written) + len(present)} span(s) of {config.span_months} month(s) from {source}", flush=True)


def cmd_run(config, args) -> int:
    from pipelines.runners.local import run_local

    if not args.no_prepare:
        _prepare_spans(config)
    print(f"pipeline '{config.pipeline_name}': dataset {config.spec.name}, window {config.window_spans} spans, "
          f"metadata {config.metadata}", flush=True)
    summary = run_local(config, progress=_progress)
    print(summary.format(), flush=True)
    if args.summary_json:
        Path(args.summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_json).write_text(summary.to_json())
    if summary.status == "blocked":
        print(f"error: run stopped by the data validation gate: {summary.reason}", file=sys.stderr)
        return EXIT_BLOCKED
    if not summary.ok:
        print(f"error: run failed: {summary.reason}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def cmd_spans(config, args) -> int:
    _prepare_spans(config, upto=args.upto)
    return 0


def cmd_schema(config, args) -> int:
    from pipelines.schema_tools import write_candidate_schema

    out = Path(args.output) if args.output else Path(config.pipeline_root).parent / "schema" / f"{config.spec.name}.candidate.pbtxt"
    _prepare_spans(config)
    report = write_candidate_schema(config, out)
    print(report)
    return 0


def cmd_compile_ir(config, args) -> int:
    from pipelines.pipeline import create_pipeline
    from pipelines.runners.step import compile_ir, write_ir

    write_ir(compile_ir(create_pipeline(config, span=args.span or None)), args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_compile(config, args) -> int:
    from pipelines.runners.kubeflow import KfpTarget, compile_kfp

    target = KfpTarget(**{k: v for k, v in (("image", args.image), ("metadata", args.metadata_service),
                                            ("use_pvc", args.pvc)) if v is not None})
    digest = compile_kfp(config, target, args.out)
    print(f"wrote {args.out} (KFP pipeline spec, sha256 {digest}, image {target.image})")
    return 0


def cmd_step(config, args) -> int:
    from pipelines import views
    from pipelines.runners.step import mlmd_connection, read_ir, run_step
    from pipelines.summary import data_validation_error

    ir = read_ir(args.ir)
    started = time.monotonic()
    print(f"step {args.node}: started (run {args.run_id})", flush=True)
    try:
        result = run_step(ir, args.node, args.run_id, mlmd_connection(ir, args.metadata))
    except Exception as exc:  # noqa: BLE001 - reported as a failed step with its cause
        gate = data_validation_error(exc)
        if args.view:
            views.write_view(args.view, args.node, "failed", time.monotonic() - started, {}, exc)
        print(f"step {args.node}: failed after {time.monotonic() - started:.1f} s: {gate or exc}", file=sys.stderr)
        return EXIT_BLOCKED if gate else EXIT_FAILED
    if args.view:
        views.write_view(args.view, args.node, result.status, result.seconds, result.outputs)
    _progress(args.node, 1, 1, result)
    return 0


def _kfp(args):
    from pipelines.runners import kfp_client

    host = kfp_client.host_from_env(args.host)
    return kfp_client, host, kfp_client.connect(host)


def cmd_upload(config, args) -> int:
    kfp_client, host, client = _kfp(args)
    name = args.version or kfp_client.version_name(args.spec)
    version = kfp_client.upload(client, args.spec, config.pipeline_name, name)
    state = "uploaded" if version.created else "already there (nothing uploaded)"
    print(f"pipeline '{config.pipeline_name}' version '{version.name}': {state}\n"
          f"  {host}/#/pipelines/details/{version.pipeline_id}/version/{version.version_id}")
    return 0


def cmd_submit(config, args) -> int:
    kfp_client, host, client = _kfp(args)
    run_id, link = kfp_client.submit(client, host, config.pipeline_name, args.experiment, args.version,
                                     kfp_client.parse_params(args.param), args.run_name, args.service_account)
    print(f"run {run_id} started in experiment '{args.experiment}': {link}", flush=True)
    if not args.wait:
        return 0
    state = kfp_client.wait(client, run_id, timeout=args.timeout, poll=args.poll)
    print(f"run {run_id}: {state}")
    return 0 if state == "SUCCEEDED" else EXIT_FAILED


def cmd_schedule(config, args) -> int:
    kfp_client, host, client = _kfp(args)
    job_id, replaced = kfp_client.schedule(client, config.pipeline_name, args.experiment, args.name, args.cron,
                                           args.version, kfp_client.parse_params(args.param), args.service_account)
    print(f"recurring run '{args.name}' ({args.cron}, one at a time, no catch-up): {job_id}"
          + (f" (replaced {replaced})" if replaced else "") + f"\n  {host}/#/recurringrun/details/{job_id}")
    return 0


def cmd_unschedule(config, args) -> int:
    kfp_client, host, client = _kfp(args)
    count = kfp_client.unschedule(client, args.experiment, args.name)
    print(f"recurring run '{args.name}': " + (f"deleted ({count})" if count else "none found; nothing to do"))
    return 0


def cmd_runs(config, args) -> int:
    kfp_client, host, client = _kfp(args)
    rows = kfp_client.recent_runs(client, args.limit)
    print(f"{'state':<10} {'created':<26} {'run id':<37} name")
    for r in rows:
        print(f"{r['state']:<10} {r['created'][:25]:<26} {r['run_id']:<37} {r['name']}")
    if not rows:
        print("(no runs)")
    return 0


def cmd_predict(config, args) -> int:
    import urllib.error

    from pipelines import serving

    spec = config.spec
    try:
        path, rows = serving.sample_rows(config.data_root, args.rows)
        types = serving.feature_types(spec)
        body = serving.predict_body([serving.example_bytes(r, spec, types) for r in rows])
        predictions = serving.predict(args.url, config.served_model_name, body)
    except (OSError, urllib.error.URLError, KeyError, ValueError) as exc:
        print(f"error: prediction from {args.url} (model {config.served_model_name}) failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{len(predictions)} predictions from {args.url}/v1/models/{config.served_model_name} for rows of {path}:")
    label = spec.label
    for row, prediction in zip(rows, predictions):
        value = prediction[0] if isinstance(prediction, list) else prediction
        print(f"  p({label.name})={value:.3f}   {label.column}={row.get(label.column, '')}"
              + (f" {label.relative_to}={row.get(label.relative_to, '')}" if label.relative_to else ""))
    valid = len(predictions) == len(rows) and all(
        0.0 <= (p[0] if isinstance(p, list) else p) <= 1.0 for p in predictions)
    return 0 if valid else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    from pipelines.config import PipelineConfig

    parser = argparse.ArgumentParser(prog="openct", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "run": (cmd_run, "run the pipeline locally (TFX launcher, SQLite ML Metadata, Beam DirectRunner)"),
        "spans": (cmd_spans, "cut the dataset CSV into time spans (never rewrites a span)"),
        "schema": (cmd_schema, "infer a candidate schema from the spans for review"),
        "compile-ir": (cmd_compile_ir, "write the pipeline's TFX IR (run id left open)"),
        "step": (cmd_step, "run one node of a compiled IR in this process"),
        "compile": (cmd_compile, "compile the pipeline into a KFP v2 pipeline spec (YAML)"),
        "upload": (cmd_upload, "upload the compiled spec to Kubeflow Pipelines as a new version (idempotent)"),
        "submit": (cmd_submit, "start a run on Kubeflow Pipelines; --wait follows it"),
        "schedule": (cmd_schedule, "create or replace a recurring run (6-field cron)"),
        "unschedule": (cmd_unschedule, "delete a recurring run by name"),
        "runs": (cmd_runs, "list recent runs on Kubeflow Pipelines"),
        "predict": (cmd_predict, "ask TF Serving for predictions on rows of the newest span"),
    }
    for name, (fn, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(fn=fn)
        p.add_argument("-v", "--verbose", action="store_true", help="library logs at INFO")
        PipelineConfig.add_arguments(p)
        if name == "run":
            p.add_argument("--no-prepare", action="store_true", help="do not cut missing spans first")
            p.add_argument("--summary-json", default=None, help="also write the run summary as JSON here")
        if name == "spans":
            p.add_argument("--upto", type=int, default=None, help="cut spans 1..N only (simulate arrivals)")
        if name == "schema":
            p.add_argument("--output", default=None, help="where to write the candidate schema")
        if name == "compile-ir":
            p.add_argument("--out", required=True, help="IR file (JSON)")
            p.add_argument("--span", type=int, default=None, help="span to ingest (default or 0: the newest)")
        if name == "step":
            p.add_argument("--ir", required=True, help="pipeline IR written by `openct compile-ir`")
            p.add_argument("--node", required=True, help="node id, e.g. Trainer")
            p.add_argument("--run-id", required=True, help="the same for every node of one pipeline run")
            p.add_argument("--metadata", default=None,
                           help="ML Metadata: grpc://HOST:PORT or sqlite:///PATH (default: the IR's)")
            p.add_argument("--view", default=None, help="write the node's HTML view here")
        if name == "compile":
            p.add_argument("--out", default="build/pipeline.yaml", help="where to write the spec")
            p.add_argument("--image", default=None, help="pipeline image, pinned tag or digest")
            p.add_argument("--metadata-service", default=None, help="grpc://HOST:PORT of ML Metadata in the cluster")
            p.add_argument("--pvc", default=None, action=argparse.BooleanOptionalAction,
                           help="mount the openct PersistentVolumeClaims (default yes; no for gs:// roots)")
        if name in KFP_COMMANDS:
            p.add_argument("--host", default=None, help="KFP API/UI address (default $KFP_HOST or http://localhost:8080)")
        if name in ("submit", "schedule", "unschedule"):
            p.add_argument("--experiment", default="openct", help="KFP experiment (created if absent)")
        if name in ("submit", "schedule"):
            p.add_argument("--version", default=None, help="pipeline version name (default: the newest)")
            p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                           help="run parameter, repeatable (e.g. --param train_steps=500)")
            p.add_argument("--service-account", default=None,
                           help="Kubernetes service account of the run's pods (kind: openct-pipeline)")
        if name == "upload":
            p.add_argument("--spec", default="build/pipeline.yaml", help="compiled pipeline (make compile)")
            p.add_argument("--version", default=None, help="version name (default: <git commit>-<spec hash>)")
        if name == "submit":
            p.add_argument("--run-name", default=None)
            p.add_argument("--wait", action="store_true", help="follow the run; exit 1 unless it succeeds")
            p.add_argument("--timeout", type=float, default=3 * 3600, help="seconds to wait (default 3 h)")
            p.add_argument("--poll", type=float, default=10.0, help="seconds between state checks")
        if name in ("schedule", "unschedule"):
            p.add_argument("--name", default="openct-nightly", help="recurring run name (its identity)")
        if name == "schedule":
            p.add_argument("--cron", default="0 0 2 * * *", help="6-field cron (default 02:00 daily)")
        if name == "runs":
            p.add_argument("--limit", type=int, default=20)
        if name == "predict":
            p.add_argument("--url", default="http://localhost:8501", help="TF Serving REST address")
            p.add_argument("--rows", type=int, default=3, help="how many rows of the newest span")
    return parser


def main(argv: list[str] | None = None) -> int:
    from pipelines.config import PipelineConfig

    args = build_parser().parse_args(argv)
    _quiet_libraries(args.verbose)
    try:
        config = PipelineConfig.from_args(args)
        config.spec  # resolve the dataset early: a bad --dataset is a one-line error
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command not in KFP_COMMANDS:
        return args.fn(config, args)
    try:
        return args.fn(config, args)
    except (LookupError, FileNotFoundError, ValueError, TimeoutError, ConnectionError) as exc:  # what the user can fix: one line
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
