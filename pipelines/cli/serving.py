"""`openct serving ...`: predictions from TF Serving; what it serves: status, pin, rollback, unpin.

Pins and labels are written into TF Serving's model config file (components.serving_config) and
recorded in ML Metadata with who and why (`ct history` shows them). No command deletes a version.
"""

from __future__ import annotations

import argparse
from typing import Any

from pipelines.cli import EXIT_FAILED
from pipelines.config import SERVING_SETTINGS, STORE_SETTINGS

NAME = "serving"
HELP = "TF Serving: predictions; what it serves (status, pin, rollback, unpin)"
DEFAULT_URL = "http://localhost:8501"


def register(commands: Any) -> None:
    p = commands.add(
        "predict",
        cmd_predict,
        "ask TF Serving for predictions on rows of the newest span",
        (*SERVING_SETTINGS, "data_root"),
    )
    p.add_argument("--url", default=DEFAULT_URL, help="TF Serving REST address")
    p.add_argument("--label", default=None, help="ask the version under this label (stable, canary)")
    p.add_argument("--rows", type=int, default=3, help="how many rows of the newest span")
    p.add_argument(
        "--log-requests",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="keep the sent tf.Examples under <serving_dir>/request-logs (skew check)",
    )

    commands.add("init", cmd_init, "write TF Serving's model config (serve the newest) unless there is one", _CHANGE)
    p = commands.add("status", cmd_status, "what serves: pushed versions, pin, labels, and since when", _CHANGE)
    _store_flag(p)
    for name, func, text in (
        ("pin", cmd_pin, "serve this version whatever is pushed later (label stable; the newest as canary)"),
        ("rollback", cmd_rollback, "pin the version before the served one (or --to N)"),
        ("unpin", cmd_unpin, "serve the newest push again"),
    ):
        p = commands.add(name, func, text, _CHANGE)
        if name == "pin":
            p.add_argument("version", type=int, help="a pushed version")
        if name == "rollback":
            p.add_argument("--to", type=int, default=None, help="the version to serve (default: the one before)")
        p.add_argument("--reason", required=True, help="why, for whoever reads `ct history`")
        p.add_argument("--by", default=None, help="who (default: $USER)")
        p.add_argument(
            "--url",
            default=DEFAULT_URL,
            help="TF Serving REST address, to wait until a version is loaded before a label moves onto it; "
            "'' when no TF Serving reads this serving directory yet",
        )
        p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for TF Serving to load")
        _store_flag(p)


_CHANGE = (*SERVING_SETTINGS, *STORE_SETTINGS)


def _store_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metadata", default=None, help="ML Metadata: grpc://HOST:PORT or sqlite:///PATH (default: the local store)"
    )


def cmd_init(config: Any, args: argparse.Namespace) -> int:
    from components import serving_config

    path = serving_config.config_path(config.serving_dir)
    if serving_config.read(config.serving_dir, config.served_model_name) != serving_config.UNPINNED:
        print(f"{path}: kept (pinned)")
        return 0
    serving_config.write(config.serving_dir, config.served_model_name, config.served_base_path, serving_config.UNPINNED)
    print(f"{path}: {config.served_model_name} at {config.served_base_path}, serving the newest version")
    return 0


def cmd_status(config: Any, args: argparse.Namespace) -> int:
    from components import serving_config
    from components.versions import served_versions

    pushed = served_versions(config.model_serving_dir)
    state = serving_config.read(config.serving_dir, config.served_model_name)
    served = serving_config.served(config.serving_dir, config.served_model_name)
    print(f"model {config.served_model_name} under {config.model_serving_dir}")
    print(f"pushed versions: {', '.join(map(str, pushed)) or 'none'}")
    print(f"serving: {status_line(state, served, pushed, _last_change(config, args.metadata))}")
    if state.labels:
        print("labels: " + ", ".join(f"{label} -> v{version}" for label, version in state.labels))
    print(f"model config: {serving_config.config_path(config.serving_dir)}")
    return 0


def _last_change(config: Any, metadata: str | None):
    from pipelines import lineage
    from pipelines.ct.triggers import store_uri

    uri = store_uri(config, metadata)
    if uri is None:
        return None
    with lineage.open_store(uri) as store:
        changes = lineage.serving_changes(store)
    return changes[-1] if changes else None


def status_line(state: Any, served: int | None, pushed: list[int], change: Any) -> str:
    """One line: which version serves and why (pinned since when, by whom) or that it follows pushes."""
    if served is None:
        return "nothing pushed yet"
    if state.pinned is None:
        return f"v{served}, the newest push (not pinned: the next push serves)"
    newer = [v for v in pushed if v > served]
    line = f"v{served}, PINNED"
    if change is not None and change.version == served:
        line += f" since {change.time:%Y-%m-%d %H:%M} by {change.by} ({change.action}: {change.reason})"
    if newer:
        line += f"; pushed since, not served: {', '.join(f'v{v}' for v in newer)}"
    return line


def _change(config: Any, args: argparse.Namespace, action: str, target: Any) -> int:
    import datetime as dt
    import getpass

    from components import serving_config
    from pipelines import lineage, serving
    from pipelines.ct.triggers import store_uri

    if not args.reason.strip():
        raise ValueError("--reason must say why")
    available = (lambda: serving.available_versions(args.url, config.served_model_name)) if args.url else None
    if available is not None:
        try:  # before anything is written
            available()
        except (OSError, ValueError, KeyError) as exc:
            raise ConnectionError(
                f"TF Serving at {args.url} did not answer for model {config.served_model_name} ({exc}); "
                f"nothing written. Give --url '' if no TF Serving reads {config.serving_dir} yet"
            ) from exc
    serving_config.transition(
        config.serving_dir, config.served_model_name, config.served_base_path, target, available, args.timeout
    )
    change = lineage.ServingChange(
        dt.datetime.now(dt.UTC), action, target.pinned, target.canary, args.by or getpass.getuser(), args.reason.strip()
    )
    uri = store_uri(config, args.metadata)
    if uri is None:
        print(f"warning: no ML Metadata store at {config.metadata}: the change is not recorded")
    else:
        with lineage.open_store(uri) as store:
            lineage.record_serving_change(store, config.pipeline_name, change)
    print(change.text)
    print(f"wrote {serving_config.config_path(config.serving_dir)}" + ("" if args.url else " (no TF Serving checked)"))
    return 0


def _pushed(config: Any) -> list[int]:
    from components.versions import served_versions

    pushed = served_versions(config.model_serving_dir)
    if not pushed:
        raise ValueError(f"no pushed version under {config.model_serving_dir}")
    return pushed


def cmd_pin(config: Any, args: argparse.Namespace) -> int:
    from components import serving_config

    return _change(config, args, "pin", serving_config.pinned_to(args.version, _pushed(config)))


def cmd_rollback(config: Any, args: argparse.Namespace) -> int:
    from components import serving_config

    pushed = _pushed(config)
    served = serving_config.served(config.serving_dir, config.served_model_name)
    if args.to is None:
        earlier = [v for v in pushed if served is not None and v < served]
        if not earlier:
            raise ValueError(f"v{served} is the first pushed version: nothing to roll back to")
        args.to = earlier[-1]
    return _change(config, args, "rollback", serving_config.pinned_to(args.to, pushed))


def cmd_unpin(config: Any, args: argparse.Namespace) -> int:
    from components import serving_config

    return _change(config, args, "unpin", serving_config.UNPINNED)


def cmd_predict(config: Any, args: argparse.Namespace) -> int:
    from pipelines import serving

    spec = config.spec
    path, rows = serving.sample_rows(config.data_root, args.rows)
    types = serving.feature_types(spec)
    examples = [serving.example_bytes(r, spec, types) for r in rows]
    labelled = serving.label_version(config, args.label) if args.label else None  # a missing label: said as such
    try:
        version = labelled if labelled is not None else serving.loaded_version(args.url, config.served_model_name)
        predictions = serving.predict(args.url, config.served_model_name, serving.predict_body(examples), args.label)
    except (OSError, KeyError, ValueError) as exc:
        raise ConnectionError(f"prediction from {args.url} (model {config.served_model_name}) failed: {exc}") from exc
    if args.log_requests:
        logged = serving.log_requests(config.serving_dir, config.served_model_name, version, examples)
        print(f"request log (for the skew check of `openct ct trigger`): {logged}")
    print(
        f"{len(predictions)} predictions from {serving.model_url(args.url, config.served_model_name, args.label)} "
        f"(version {version}) "
        f"for rows of {path}:"
    )
    label = spec.label
    probabilities = [p[0] if isinstance(p, list) else p for p in predictions]  # [batch, 1] -> [batch]
    for row, value in zip(rows, probabilities, strict=False):  # lengths checked below
        print(
            f"  p({label.name})={value:.3f}   {label.column}={row.get(label.column, '')}"
            + (f" {label.relative_to}={row.get(label.relative_to, '')}" if label.relative_to else "")
        )
    valid = len(probabilities) == len(rows) and all(0.0 <= p <= 1.0 for p in probabilities)
    return 0 if valid else EXIT_FAILED
