"""Cut a CSV into time spans laid out for ExampleGen's `{SPAN}` pattern.

Layout: <data_root>/span-<N>/data.csv, N = 1, 2, ... counted in periods of `span_months` from the
first month present in the source, so the same source always gives the same spans. A span that
already exists is never rewritten (new data arrives as new spans); each span is written to a
temporary directory and renamed into place, so ExampleGen never sees half a file.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import re
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

SPAN_DIR = re.compile(r"^span-(\d+)$")
SPAN_FILE = "data.csv"
# The pattern CsvExampleGen is given (relative to data_root).
SPAN_PATTERN = "span-{SPAN}/" + SPAN_FILE


def span_path(data_root: str | Path, span: int) -> Path:
    """<data_root>/span-<N>/data.csv: where span N's rows are (SPAN_PATTERN, as ExampleGen reads it)."""
    return Path(data_root) / f"span-{span}" / SPAN_FILE


@dataclasses.dataclass(frozen=True)
class Span:
    number: int
    start: dt.date  # first day of the period (UTC)
    end: dt.date  # first day after the period
    rows: int

    @property
    def label(self) -> str:
        return f"span {self.number} ({self.start:%Y-%m}..{self.end - dt.timedelta(days=1):%Y-%m}, {self.rows} rows)"


def _month_index(ts: float) -> int:
    d = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    return d.year * 12 + d.month - 1


def _month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(header, iterator of (line number, row)); a row whose field count differs from the
    header's is an error naming the file and line (CsvExampleGen's own error names neither)."""
    f = open(path, newline="")  # noqa: SIM115 - closed by the row iterator, or below on an empty file
    reader = csv.reader(f)
    try:
        header = next(reader)
    except StopIteration:
        f.close()
        raise ValueError(f"{path}: empty CSV file") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        with f:
            for row in reader:
                if len(row) != len(header):
                    raise ValueError(f"{path}:{reader.line_num}: {len(row)} fields, header has {len(header)}")
                yield reader.line_num, row

    return header, rows()


def check_span_file(path: Path) -> None:
    """Raises ValueError (file and line) when a span's CSV is malformed."""
    _, rows = read_rows(path)
    for _ in rows:
        pass


def plan_spans(
    source: Path, timestamp_column: str, span_months: int
) -> tuple[list[str], dict[int, list[list[str]]], int]:
    """Reads the source; returns (header, rows per span number, first month index)."""
    header, rows = read_rows(source)
    if timestamp_column not in header:
        raise ValueError(f"{source}: no column {timestamp_column!r} to cut spans on (columns: {header})")
    ts_col = header.index(timestamp_column)
    keyed: list[tuple[int, list[str]]] = []
    for line_no, row in rows:
        try:
            keyed.append((_month_index(float(row[ts_col])), row))
        except ValueError:
            raise ValueError(f"{source}:{line_no}: {timestamp_column}={row[ts_col]!r} is not a Unix time") from None
    if not keyed:
        raise ValueError(f"{source}: no data rows")
    first = min(m for m, _ in keyed)
    spans: dict[int, list[list[str]]] = defaultdict(list)
    for month, row in keyed:
        spans[(month - first) // span_months + 1].append(row)
    return header, dict(spans), first


def existing_spans(data_root: str | Path) -> list[int]:
    """Span numbers present under data_root (complete spans only)."""
    root = Path(data_root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = SPAN_DIR.match(child.name)
        if m and (child / SPAN_FILE).is_file():
            found.append(int(m.group(1)))
    return sorted(found)


def cut_spans(
    source: str | Path, data_root: str | Path, timestamp_column: str, span_months: int, upto: int | None = None
) -> tuple[list[Span], list[Span]]:
    """Writes missing spans (all, or only spans <= `upto`); returns (written, already present).

    Rows keep the source's order within a span, so the output is byte-for-byte deterministic.
    """
    source, root = Path(source), Path(data_root)
    header, rows_by_span, first = plan_spans(source, timestamp_column, span_months)
    root.mkdir(parents=True, exist_ok=True)
    written, present = [], []
    for number in sorted(rows_by_span):
        if upto is not None and number > upto:
            break
        start_month = first + (number - 1) * span_months
        span = Span(
            number, _month_start(start_month), _month_start(start_month + span_months), len(rows_by_span[number])
        )
        target = root / f"span-{number}"
        if target.exists():
            present.append(span)
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f".span-{number}.", dir=root))
        try:
            with open(tmp / SPAN_FILE, "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(header)
                w.writerows(rows_by_span[number])
            os.chmod(tmp, 0o755)
            os.rename(tmp, target)  # atomic; fails rather than replace if target appeared
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        written.append(span)
    return written, present
