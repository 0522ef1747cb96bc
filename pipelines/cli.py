"""The `openct` command.

    openct run      [config flags]   cut missing spans, run the pipeline locally, print a summary
    openct spans    [--upto N]       cut the dataset's CSV into spans under --data-root
    openct schema                    infer a candidate schema from the spans, for review
    openct compile-ir --out FILE     the pipeline's TFX IR, for running node by node
    openct step --ir FILE --node ID --run-id R   one node, in this process (an orchestrator task)
    openct compile [--out build/pipeline.yaml]     the KFP v2 pipeline spec for Kubeflow Pipelines
    openct upload | submit [--wait] | schedule | unschedule | runs     Kubeflow Pipelines ($KFP_HOST)
    openct predict [--url http://localhost:8501]   TF Serving predictions on rows of the newest span
    openct trigger [--kfp] | status | history      continuous training from ML Metadata
    openct replay                                  the spans arrive one by one; a timeline (PNG, table)

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
ONE_LINE_ERRORS = (*KFP_COMMANDS, "trigger", "status", "history", "replay")  # errors the user can fix


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
    return _run_and_report(config, args, run_local, trigger="manual")


def _run_and_report(config, args, run_local, trigger: str) -> int:
    """A local run with progress lines and the summary; the exit code says how it ended."""
    print(f"pipeline '{config.pipeline_name}': dataset {config.spec.name}, window {config.window_spans} spans, "
          f"metadata {config.metadata}", flush=True)
    summary = run_local(config, progress=_progress, trigger=trigger)
    print(summary.format(), flush=True)
    if getattr(args, "summary_json", None):
        Path(args.summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary_json).write_text(summary.to_json())
    if summary.status == "blocked":
        print(f"error: run stopped by the data validation gate: {summary.reason}", file=sys.stderr)
        return EXIT_BLOCKED
    if not summary.ok:
        print(f"error: run failed: {summary.reason}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def cmd_trigger(config, args) -> int:
    from pipelines import triggers

    enabled = tuple(r.strip() for r in args.on.split(",") if r.strip())
    unknown = set(enabled) - set(triggers.REASONS)
    if unknown:
        raise ValueError(f"--on {args.on!r}: unknown {sorted(unknown)}; choose from {', '.join(triggers.REASONS)}")
    decision = triggers.decide(config, args.metadata, enabled)
    print(f"trigger: {decision.reason}", flush=True)
    if not decision.start:
        return 0
    if args.kfp:
        kfp_client, host, client = _kfp(args)
        active = triggers.active_runs(client)
        if active:
            print(f"trigger: {len(active)} KFP run(s) still active ({active[0]['run_id']}): nothing started")
            return 0
        run_id, link = kfp_client.submit(client, host, config.pipeline_name, args.experiment, args.version,
                                         {"span": decision.span}, decision.trigger, args.service_account)
        print(f"trigger: started KFP run {run_id} on span {decision.span}: {link}")
        return 0
    from pipelines.runners.local import run_local

    return _run_and_report(config, args, run_local, trigger=decision.trigger)


def cmd_replay(config, args) -> int:
    import datetime as dt
    import functools

    from pipelines.replay import replay, write_timeline
    from pipelines.runners.local import run_local

    out = Path(args.out or Path(config.pipeline_root).parent / "replay" / dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    scratch = config.replace(data_root=str(out / "data"), pipeline_root=str(out / "pipeline"),
                             serving_dir=str(out / "serving"), metadata_path="")
    print(f"replay into {out}: spans arrive one at a time, each followed by `openct trigger`", flush=True)
    started = time.monotonic()
    timeline = replay(scratch, args.corrupt_at or None, args.drift_at or None, args.upto,
                      report=lambda line: print(line, flush=True), run=functools.partial(run_local, progress=_progress))
    files = write_timeline(timeline, out, scratch)
    print(files[1].read_text())
    print(f"replay: {len(timeline)} arrivals, {sum(a.started for a in timeline)} runs, "
          f"{time.monotonic() - started:.0f} s; timeline: {', '.join(map(str, files))}")
    return 0


def _store(config, args) -> str:
    from pipelines import triggers

    uri = triggers.store_uri(config, args.metadata)
    if uri is None:
        raise FileNotFoundError(f"no ML Metadata store at {config.metadata}: nothing has run yet")
    return uri


def cmd_status(config, args) -> int:
    from components.pusher import served_versions
    from pipelines import lineage
    from pipelines.summary import span_ranges

    served = served_versions(config.model_serving_dir)
    with lineage.open_store(_store(config, args)) as store:
        records = lineage.models(store, served[-1] if served else None)
    print(f"{'model':>6} {'trained':<19} {'spans':<10} {'auc':>7} {'accuracy':>8} {'blessed':<8} {'pushed':<26} serving")
    for m in records:
        pushed = f"v{m.pushed_version} {m.pushed_at:%Y-%m-%d %H:%M:%S}" if m.pushed_version else "-"
        blessed = "-" if m.blessed is None else ("yes" if m.blessed else "no")
        auc, acc = m.metrics.get("auc"), m.metrics.get("binary_accuracy")
        print(f"{m.model_id:>6} {m.created:%Y-%m-%d %H:%M:%S} {span_ranges(m.spans):<10} "
              f"{'-' if auc is None else f'{auc:.4f}':>7} {'-' if acc is None else f'{acc:.4f}':>8} "
              f"{blessed:<8} {pushed:<26} {'<- serving' if m.serving else ''}")
    print(f"serving: {f'version {served[-1]} under {config.model_serving_dir}' if served else 'nothing'}")
    return 0


def cmd_history(config, args) -> int:
    from pipelines import lineage
    from pipelines.summary import span_ranges

    with lineage.open_store(_store(config, args)) as store:
        records = lineage.runs(store, config.pipeline_name)
    width = max([len("trigger"), *(len(r.trigger) for r in records)])
    print(f"{'started':<19} {'seconds':>8} {'trigger':<{width}} {'ingested':<9} outcome")
    for r in records:
        print(f"{r.started:%Y-%m-%d %H:%M:%S} {r.seconds:8.1f} {r.trigger:<{width}} {span_ranges(r.spans):<9} {r.outcome}")
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
        examples = [serving.example_bytes(r, spec, types) for r in rows]
        version = serving.serving_version(args.url, config.served_model_name)
        predictions = serving.predict(args.url, config.served_model_name, serving.predict_body(examples))
    except (OSError, urllib.error.URLError, KeyError, ValueError) as exc:
        print(f"error: prediction from {args.url} (model {config.served_model_name}) failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.log_requests:
        logged = serving.log_requests(config.serving_dir, config.served_model_name, version, examples)
        print(f"request log (for the skew check of `openct trigger`): {logged}")
    print(f"{len(predictions)} predictions from {args.url}/v1/models/{config.served_model_name} (version {version}) "
          f"for rows of {path}:")
    label = spec.label
    probabilities = [p[0] if isinstance(p, list) else p for p in predictions]  # [batch, 1] -> [batch]
    for row, value in zip(rows, probabilities):
        print(f"  p({label.name})={value:.3f}   {label.column}={row.get(label.column, '')}"
              + (f" {label.relative_to}={row.get(label.relative_to, '')}" if label.relative_to else ""))
    valid = len(probabilities) == len(rows) and all(0.0 <= p <= 1.0 for p in probabilities)
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
        "trigger": (cmd_trigger, "start a run when a new span has arrived (locally, or on KFP with --kfp)"),
        "status": (cmd_status, "model versions from ML Metadata: spans, metrics, blessed, pushed, serving"),
        "history": (cmd_history, "pipeline runs from ML Metadata: trigger, duration, outcome"),
        "replay": (cmd_replay, "replay the spans in time order, each followed by trigger; write a timeline"),
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
        if name in ("trigger", "status", "history"):
            p.add_argument("--metadata", default=None,
                           help="ML Metadata: grpc://HOST:PORT or sqlite:///PATH (default: the local store)")
        if name == "replay":
            p.add_argument("--out", default=None, help="replay directory (default build/replay/<time>; must not exist)")
            p.add_argument("--corrupt-at", type=int, default=6, help="this arriving span is corrupted (0: none)")
            p.add_argument("--drift-at", type=int, default=10, help="this arriving span is drifted (0: none)")
            p.add_argument("--upto", type=int, default=None, help="stop after this span")
        if name == "trigger":
            p.add_argument("--kfp", action="store_true", help="start the run on Kubeflow Pipelines ($KFP_HOST)")
            p.add_argument("--on", default="new-span,drift,skew,degradation",
                           help="what may start a run, comma-separated (default: new-span,drift,skew,degradation)")
            p.add_argument("--summary-json", default=None, help="also write the run summary as JSON here")
        if name in KFP_COMMANDS or name == "trigger":
            p.add_argument("--host", default=None, help="KFP API/UI address (default $KFP_HOST or http://localhost:8080)")
        if name in ("submit", "schedule", "unschedule", "trigger"):
            p.add_argument("--experiment", default="openct", help="KFP experiment (created if absent)")
        if name in ("submit", "schedule", "trigger"):
            p.add_argument("--version", default=None, help="pipeline version name (default: the newest)")
            p.add_argument("--service-account", default=None,
                           help="Kubernetes service account of the run's pods (kind: openct-pipeline)")
        if name in ("submit", "schedule"):
            p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                           help="run parameter, repeatable (e.g. --param train_steps=500)")
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
            p.add_argument("--log-requests", default=True, action=argparse.BooleanOptionalAction,
                           help="keep the sent tf.Examples under <serving_dir>/request-logs (skew check)")
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
    if args.command not in ONE_LINE_ERRORS:
        return args.fn(config, args)
    try:
        return args.fn(config, args)
    except (LookupError, FileNotFoundError, ValueError, TimeoutError, ConnectionError) as exc:  # what the user can fix: one line
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
