"""`openct data spans | schema`: prepare a dataset's time spans and draft its schema."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipelines.config import DATA_SETTINGS

NAME = "data"
HELP = "cut the dataset's CSV into time spans; draft a candidate schema"


def register(commands: Any) -> None:
    p = commands.add(
        "spans",
        cmd_spans,
        "cut the dataset CSV into time spans under --data-root (never rewrites a span)",
        DATA_SETTINGS,
    )
    p.add_argument("--upto", type=int, default=None, help="cut spans 1..N only (simulate arrivals)")
    p = commands.add(
        "schema",
        cmd_schema,
        "infer a candidate schema from the spans for review (never touches the curated one)",
        (*DATA_SETTINGS, "pipeline_root"),
    )
    p.add_argument(
        "--output", default=None, help="where to write it (default <pipeline_root>/../schema/<dataset>.candidate.pbtxt)"
    )


def prepare_spans(config: Any, upto: int | None = None) -> None:
    """Cuts the spans that are missing under data_root; names the file and line of a bad row."""
    from pipelines.data.spans import cut_spans

    spec = config.spec
    source = spec.source_path()
    if not source.is_file():
        raise FileNotFoundError(f"dataset {spec.name!r}: source CSV not found: {source}")
    try:
        written, present = cut_spans(source, config.data_root, spec.timestamp_column, config.span_months, upto=upto)
    except ValueError as bad:  # names the file and line; nothing was written for the bad span
        raise ValueError(f"cannot cut spans: {bad}") from None
    if written:
        print(f"spans: wrote {len(written)} new span(s) under {config.data_root}:", flush=True)
        for span in written:
            print(f"  {span.label}")
    print(f"spans: {len(written) + len(present)} span(s) of {config.span_months} month(s) from {source}", flush=True)


def cmd_spans(config: Any, args: argparse.Namespace) -> int:
    prepare_spans(config, upto=args.upto)
    return 0


def cmd_schema(config: Any, args: argparse.Namespace) -> int:
    from pipelines.data.schema import write_candidate_schema

    out = (
        Path(args.output)
        if args.output
        else Path(config.pipeline_root).parent / "schema" / f"{config.spec.name}.candidate.pbtxt"
    )
    prepare_spans(config)
    print(write_candidate_schema(config.spec, config.data_root, out))
    return 0
