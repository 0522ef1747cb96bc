"""`openct data spans | schema`: prepare a dataset's time spans and draft its schema."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipelines.config import BUILD_DIR, DATA_SETTINGS, STORE_SETTINGS, PipelineConfig

NAME = "data"
HELP = "draft a dataset spec from a CSV; cut it into time spans; draft a candidate schema; accept a flagged span"


def register(commands: Any) -> None:
    p = commands.add(
        "draft",
        cmd_draft,
        "draft a dataset spec and a schema from your CSV (kinds listed for "
        "review), cut its spans: then `openct local run --dataset <spec>`",
        ("data_root", "span_months"),
    )
    p.add_argument("csv", help="your CSV file (a header row, one row per example)")
    p.add_argument("--time-column", required=True, help="the column spans are cut on")
    p.add_argument(
        "--time-format",
        default="",
        help='how it is written: empty for Unix seconds, a strptime format ("%%Y/%%m/%%d"), or "iso"',
    )
    p.add_argument("--timezone", default="UTC", help="IANA zone for times without an offset (default UTC)")
    p.add_argument("--label", required=True, help="COLUMN==CLASS, COLUMN>NUMBER or COLUMN>NUMBER*COLUMN")
    p.add_argument("--name", default=None, help="dataset name (default: the CSV's file name)")
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
    p = commands.add(
        "accept",
        cmd_accept,
        "accept a span's failed data checks as a real change (recorded in ML Metadata, shown by "
        "`ct history`); the next run judges the span again and lets it pass",
        STORE_SETTINGS,
    )
    p.add_argument("--span", type=int, required=True, help="the span whose failed data checks you reviewed")
    p.add_argument("--reason", required=True, help="why the change is real, for whoever reads `ct history`")
    p.add_argument("--by", default=None, help="who accepts it (default: $USER)")
    p.add_argument(
        "--metadata", default=None, help="ML Metadata: grpc://HOST:PORT or sqlite:///PATH (default: the local store)"
    )


def prepare_spans(config: Any, upto: int | None = None) -> None:
    """Cuts the spans that are missing under data_root; names the file and line of a bad row."""
    from pipelines.data.spans import cut_dataset_spans, span_months_of

    spec = config.spec
    source = spec.source_path()
    if not source.is_file():
        raise FileNotFoundError(f"dataset {spec.name!r}: source CSV not found: {source}")
    try:
        written, present = cut_dataset_spans(spec, config.data_root, config.span_months, upto=upto)
    except ValueError as bad:  # names the file and line, or the layout; nothing was written for the bad span
        raise ValueError(f"cannot cut spans: {bad}") from None
    months = span_months_of(config.data_root)
    if written:
        print(f"spans: wrote {len(written)} new span(s) under {config.data_root}:", flush=True)
        for span in written:
            print(f"  {span.label}")
    print(f"spans: {len(written) + len(present)} span(s) of {months} month(s) from {source}", flush=True)


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


def cmd_draft(config: Any, args: argparse.Namespace) -> int:
    """CSV -> <name>.json (spec) and <name>.pbtxt (schema) beside it, and the spans; writes the
    spec last, so a refused cut leaves nothing half-made."""
    import tensorflow_data_validation as tfdv

    from pipelines.data import draft
    from pipelines.data.schema import infer_schema
    from pipelines.data.spans import cut_dataset_spans

    csv_path = Path(args.csv).resolve()
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such CSV file")
    name = args.name or csv_path.stem
    label = draft.parse_label(args.label, name=f"{name}_label")
    spec, guesses = draft.draft_spec(csv_path, name, args.time_column, label, args.time_format, args.timezone)
    spec_path, schema_path = csv_path.with_name(f"{name}.json"), csv_path.with_name(f"{name}.pbtxt")
    for path in (spec_path, schema_path):
        if path.exists():
            raise FileExistsError(f"{path} exists; not overwriting it (review it, or pass another --name)")
    if config.data_root == PipelineConfig().data_root:  # the taxi spans' root: a dataset gets its own
        config = config.replace(data_root=str(BUILD_DIR / name / "data"))
    written, present = cut_dataset_spans(spec, config.data_root, config.span_months)
    schema = infer_schema(config.data_root)
    tfdv.write_schema_text(schema, str(schema_path))
    draft.write_spec(spec, spec_path)
    print(f"dataset '{name}': {len(spec.feature_columns)} features, label {args.label!r}; column kinds (review them):")
    print("\n".join(draft.review_lines(guesses)))
    print(f"spans: {len(written)} new, {len(present)} present under {config.data_root}")
    print(f"wrote {spec_path} (the spec) and {schema_path} (TFDV's schema of the spans: review domains and ranges)")
    home = Path(config.data_root).parent  # its own store and models: never another dataset's baseline
    print(
        f"next: openct local run --dataset {spec_path} --data-root {config.data_root} "
        f"--pipeline-root {home / 'pipeline'} --serving-dir {home / 'serving'}"
    )
    return 0


def cmd_accept(config: Any, args: argparse.Namespace) -> int:
    import getpass

    from pipelines import lineage
    from pipelines.cli.ct import store_uri

    if not args.reason.strip():
        raise ValueError("--reason must say why the change is real")
    with lineage.open_store(store_uri(config, args)) as store:
        accepted = lineage.record_acceptance(
            store, config.pipeline_name, args.span, args.by or getpass.getuser(), args.reason.strip()
        )
    print(f"accepted span {accepted.span}: {accepted.checks_text}, by {accepted.by}: {accepted.reason}")
    print("the next run judges the span again; these checks then warn instead of blocking (on this span file only)")
    return 0
