"""The `openct` command.

    openct run      [config flags]   cut missing spans, run the pipeline locally, print a summary
    openct spans    [--upto N]       cut the dataset's CSV into spans under --data-root
    openct schema                    infer a candidate schema from the spans, for review
    openct compile-ir --out FILE     the pipeline's TFX IR, for running node by node
    openct step --ir FILE --node ID --run-id R   one node, in this process (an orchestrator task)

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

    write_ir(compile_ir(create_pipeline(config, span=args.span)), args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_step(config, args) -> int:
    from pipelines.runners.step import mlmd_connection, read_ir, run_step
    from pipelines.summary import data_validation_error

    ir = read_ir(args.ir)
    started = time.monotonic()
    try:
        result = run_step(ir, args.node, args.run_id, mlmd_connection(ir, args.mlmd_sqlite, args.mlmd_grpc))
    except Exception as exc:  # noqa: BLE001 - reported as a failed step with its cause
        gate = data_validation_error(exc)
        print(f"step {args.node}: failed after {time.monotonic() - started:.1f} s: {gate or exc}", file=sys.stderr)
        return EXIT_BLOCKED if gate else EXIT_FAILED
    _progress(args.node, 1, 1, result)
    return 0


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
            p.add_argument("--span", type=int, default=None, help="span to ingest (default: the newest)")
        if name == "step":
            p.add_argument("--ir", required=True, help="pipeline IR written by `openct compile-ir`")
            p.add_argument("--node", required=True, help="node id, e.g. Trainer")
            p.add_argument("--run-id", required=True, help="the same for every node of one pipeline run")
            mlmd = p.add_mutually_exclusive_group()
            mlmd.add_argument("--mlmd-sqlite", default=None, help="ML Metadata SQLite file (overrides the IR's)")
            mlmd.add_argument("--mlmd-grpc", default=None, help="ML Metadata gRPC service, HOST:PORT")
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
    return args.fn(config, args)


if __name__ == "__main__":
    sys.exit(main())
