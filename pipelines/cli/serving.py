"""`openct serving predict`: ask TF Serving for predictions on real rows of the newest span."""

from __future__ import annotations

import argparse
from typing import Any

from pipelines.cli import EXIT_FAILED
from pipelines.config import SERVING_SETTINGS

NAME = "serving"
HELP = "TF Serving: predictions on rows of the newest span"


def register(commands: Any) -> None:
    p = commands.add(
        "predict",
        cmd_predict,
        "ask TF Serving for predictions on rows of the newest span",
        (*SERVING_SETTINGS, "data_root"),
    )
    p.add_argument("--url", default="http://localhost:8501", help="TF Serving REST address")
    p.add_argument("--rows", type=int, default=3, help="how many rows of the newest span")
    p.add_argument(
        "--log-requests",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="keep the sent tf.Examples under <serving_dir>/request-logs (skew check)",
    )


def cmd_predict(config: Any, args: argparse.Namespace) -> int:
    from pipelines import serving

    spec = config.spec
    path, rows = serving.sample_rows(config.data_root, args.rows)
    types = serving.feature_types(spec)
    examples = [serving.example_bytes(r, spec, types) for r in rows]
    try:
        version = serving.loaded_version(args.url, config.served_model_name)
        predictions = serving.predict(args.url, config.served_model_name, serving.predict_body(examples))
    except (OSError, KeyError, ValueError) as exc:
        raise ConnectionError(f"prediction from {args.url} (model {config.served_model_name}) failed: {exc}") from exc
    if args.log_requests:
        logged = serving.log_requests(config.serving_dir, config.served_model_name, version, examples)
        print(f"request log (for the skew check of `openct ct trigger`): {logged}")
    print(
        f"{len(predictions)} predictions from {args.url}/v1/models/{config.served_model_name} (version {version}) "
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
