"""Small, fast slices of the taxi sample for end-to-end tests."""

from __future__ import annotations

import csv
from pathlib import Path

from pipelines.config import PipelineConfig
from pipelines.data.dataset import CHICAGO_TAXI


def small_taxi_csv(path: Path, every: int = 3, offset: int = 0) -> None:
    """Every `every`-th row of 2014-07..2015-12 of the taxi sample, from the `offset`-th: six
    quarters of ~400 rows (another offset: other real trips of the same quarters)."""
    lo, hi = 1404172800, 1451606400  # 2014-07-01, 2016-01-01 UTC
    with open(CHICAGO_TAXI.source_path(), newline="") as src, open(path, "w", newline="") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst, lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        ts = header.index(CHICAGO_TAXI.timestamp_column)
        rows = [r for r in reader if lo <= int(r[ts]) < hi]
        writer.writerows(rows[offset::every])


def log_span(config: PipelineConfig, span: int, version: int, **overrides: str) -> None:
    """Logs a span's rows as the requests `openct serving predict` would have sent to `version`."""
    from pipelines import serving
    from pipelines.data.spans import read_rows, span_path

    header, rows = read_rows(span_path(config.data_root, span))
    types = serving.feature_types(config.spec)
    examples = [
        serving.example_bytes({**dict(zip(header, r, strict=True)), **overrides}, config.spec, types) for _, r in rows
    ]
    serving.log_requests(config.serving_dir, config.served_model_name, version, examples)
