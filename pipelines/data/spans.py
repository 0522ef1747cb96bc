"""Cut a CSV into time spans laid out for ExampleGen's `{SPAN}` pattern.

Layout: <data_root>/span-<N>/data.csv, N = 1, 2, ... counted in periods of `span_months` from the
first month present in the source, so the same source always gives the same spans. A span that
already exists is never rewritten (new data arrives as new spans); each span is written to a
temporary directory and renamed into place, so ExampleGen never sees half a file.

The layout (source, time column and its format, time zone, period, first month) belongs to the
data root: it is recorded in <data_root>/layout.json when spans are first cut, used afterwards,
and a different one is refused, so that no command can put the same rows into two spans.

The time column may hold Unix seconds or dates/datetimes (`time_format`, a strptime format or
"iso", read in `timezone`); spans always carry it as Unix seconds, the pipeline's input format.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import tempfile
import zoneinfo
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from components.checks import LAYOUT_FILE
from pipelines.data.dataset import DatasetSpec

SPAN_DIR = re.compile(r"^span-(\d+)$")
SPAN_FILE = "data.csv"
# The pattern CsvExampleGen is given (relative to data_root).
SPAN_PATTERN = "span-{SPAN}/" + SPAN_FILE
DEFAULT_SPAN_MONTHS = 3
ISO = "iso"  # time_format for ISO 8601 dates and datetimes (datetime.fromisoformat)


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


@dataclasses.dataclass(frozen=True)
class SpanLayout:
    """How a data root's spans are cut; recorded in <data_root>/layout.json."""

    source: str
    time_column: str
    span_months: int = DEFAULT_SPAN_MONTHS
    time_format: str = ""  # "" = Unix seconds; else a strptime format such as "%Y/%m/%d", or "iso"
    timezone: str = "UTC"  # how dates without an offset are read, and where months begin
    first_month: str = ""  # YYYY-MM of span 1; set when the root is first cut

    def differences(self, other: SpanLayout) -> list[str]:
        keys = ("source", "time_column", "span_months", "time_format", "timezone")
        return [
            f"{k}={getattr(other, k)!r} (recorded: {getattr(self, k)!r})"
            for k in keys
            if getattr(self, k) != getattr(other, k)
        ]


def read_layout(data_root: str | Path) -> SpanLayout | None:
    path = Path(data_root) / LAYOUT_FILE
    if not path.is_file():
        return None
    try:
        return SpanLayout(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a span layout record: {exc}") from None


def _write_layout(data_root: Path, layout: SpanLayout) -> None:
    tmp = data_root / f".{LAYOUT_FILE}.tmp"
    tmp.write_text(json.dumps(dataclasses.asdict(layout), indent=2) + "\n")
    os.replace(tmp, data_root / LAYOUT_FILE)


def span_months_of(data_root: str | Path, requested: int = 0) -> int:
    """The period to cut with: `requested` if given (> 0), else the data root's recorded one,
    else DEFAULT_SPAN_MONTHS."""
    if requested > 0:
        return requested
    recorded = read_layout(data_root)
    return recorded.span_months if recorded else DEFAULT_SPAN_MONTHS


def parse_time(value: str, time_format: str = "", timezone: str = "UTC") -> float:
    """Unix seconds from a cell: a number when `time_format` is empty, else a date or datetime
    (strptime format, or "iso"); values without an offset are read in `timezone`."""
    if not time_format:
        return float(value)
    parsed = dt.datetime.fromisoformat(value) if time_format == ISO else dt.datetime.strptime(value, time_format)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return parsed.timestamp()


def _month_index(ts: float, timezone: str = "UTC") -> int:
    d = dt.datetime.fromtimestamp(ts, tz=zoneinfo.ZoneInfo(timezone))
    return d.year * 12 + d.month - 1


def _month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def _parse_month(text: str) -> int:
    year, month = (int(x) for x in text.split("-"))
    return year * 12 + month - 1


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


def header_problem(path: Path) -> str | None:
    """Why TFX would read this CSV's header as other column names than Python's csv module does,
    or None. CsvExampleGen takes the names by splitting the first line on commas after strip()
    (tfx 1.21 tfx/utils/io_utils.py:191-194, load_csv_column_names), so quoted names keep their
    quotes and a UTF-8 byte-order mark stays in the first name: the schema then sees new columns
    (SCHEMA_NEW_COLUMN on '"company"'), a valid file mistaken for a schema change. CRLF line ends
    (strip() takes the \r) and quoted fields in the rows (tfx_bsl 1.21 coders/csv_decoder.py:503-509
    parses each row with csv.reader) are read correctly and need nothing."""
    with open(path, "rb") as f:
        first = f.readline()
    if first.startswith(codecs.BOM_UTF8):
        return "it starts with a UTF-8 byte-order mark, which TFX's CsvExampleGen keeps in the first column's name"
    line = first.decode("utf-8", "replace").strip()
    naive, parsed = line.split(","), next(csv.reader([line]), [])
    if naive != parsed:
        quoted = [n for n, p in zip(naive, parsed, strict=False) if n != p][:3]
        return (
            f"its header has quoted names ({', '.join(quoted)}), which TFX's CsvExampleGen reads with "
            "their quotes (it splits the header line on commas), so the schema would see new columns"
        )
    return None


def check_span_file(path: Path) -> None:
    """Raises ValueError (file and line) when a span's CSV is malformed, or valid CSV whose header
    TFX would misread (header_problem): refused before ExampleGen, with what to change."""
    problem = header_problem(path)
    if problem:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
        raise ValueError(
            f"{path}: {problem}; write its first line as plain comma-separated names without quotes "
            f"or byte-order mark: {','.join(header)}"
        )
    _, rows = read_rows(path)
    for _ in rows:
        pass


def plan_spans(
    source: Path,
    timestamp_column: str,
    span_months: int,
    time_format: str = "",
    timezone: str = "UTC",
    first_month: int | None = None,
) -> tuple[list[str], dict[int, list[list[str]]], int]:
    """Reads the source; returns (header, rows per span number, first month index). Rows carry
    the time as Unix seconds. `first_month` (a month index) anchors span 1; default: the source's."""
    if time_format:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {timezone!r} is not an IANA time zone name (e.g. UTC, Europe/Paris)") from None
    header, rows = read_rows(source)
    if timestamp_column not in header:
        raise ValueError(f"{source}: no column {timestamp_column!r} to cut spans on (columns: {header})")
    ts_col = header.index(timestamp_column)
    keyed: list[tuple[int, list[str]]] = []
    for line_no, row in rows:
        try:
            seconds = parse_time(row[ts_col], time_format, timezone)
        except ValueError:
            raise ValueError(_time_error(source, line_no, timestamp_column, row[ts_col], time_format)) from None
        if time_format:
            row = [*row[:ts_col], str(int(seconds)), *row[ts_col + 1 :]]
        keyed.append((_month_index(seconds, timezone), row))
    if not keyed:
        raise ValueError(f"{source}: no data rows")
    first = min(m for m, _ in keyed) if first_month is None else first_month
    early = [m for m, _ in keyed if m < first]
    if early:
        raise ValueError(
            f"{source}: {len(early)} row(s) before {_month_start(first):%Y-%m}, where this data "
            "root's span 1 begins; cut them into a new --data-root"
        )
    spans: dict[int, list[list[str]]] = defaultdict(list)
    for month, row in keyed:
        spans[(month - first) // span_months + 1].append(row)
    return header, dict(spans), first


def _time_error(source: Path, line_no: int, column: str, value: str, time_format: str) -> str:
    if time_format:
        return f"{source}:{line_no}: {column}={value!r} does not match time_format {time_format!r}"
    return (
        f"{source}:{line_no}: {column}={value!r} is not a Unix time (seconds); for dates set "
        '"time_format" in the dataset spec, e.g. "%Y/%m/%d", "%Y-%m-%d %H:%M:%S" or "iso"'
    )


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
    source: str | Path,
    data_root: str | Path,
    timestamp_column: str,
    span_months: int = 0,
    upto: int | None = None,
    time_format: str = "",
    timezone: str = "UTC",
    source_name: str = "",
) -> tuple[list[Span], list[Span]]:
    """Writes missing spans (all, or only spans <= `upto`); returns (written, already present).

    `span_months` 0 means the data root's recorded period (DEFAULT_SPAN_MONTHS for a new root).
    `source_name` is how the layout names the source (a dataset's `source`, stable across
    environments); default: the resolved path.
    A layout that differs from the recorded one is refused before anything is written. Rows keep
    the source's order within a span, so the output is byte-for-byte deterministic.
    """
    source, root = Path(source), Path(data_root)
    recorded = read_layout(root)
    wanted = SpanLayout(
        source_name or str(source.resolve()), timestamp_column, span_months_of(root, span_months), time_format, timezone
    )
    if recorded is not None:
        differences = recorded.differences(wanted)
        if differences:
            raise ValueError(
                f"{root} holds spans cut another way ({root / LAYOUT_FILE}): {'; '.join(differences)}. "
                f"Cut with the recorded layout (e.g. --span-months {recorded.span_months}, or leave it unset), "
                "or give a new --data-root for a new layout; nothing was written"
            )
    first_month = _parse_month(recorded.first_month) if recorded and recorded.first_month else None
    header, rows_by_span, first = plan_spans(
        source, timestamp_column, wanted.span_months, time_format, timezone, first_month
    )
    span_months = wanted.span_months
    root.mkdir(parents=True, exist_ok=True)
    if recorded is None:
        _write_layout(root, dataclasses.replace(wanted, first_month=f"{_month_start(first):%Y-%m}"))
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


def cut_dataset_spans(
    spec: DatasetSpec, data_root: str | Path, span_months: int = 0, upto: int | None = None
) -> tuple[list[Span], list[Span]]:
    """cut_spans for a dataset: its source, time column, time format and time zone."""
    return cut_spans(
        spec.source_path(),
        data_root,
        spec.timestamp_column,
        span_months,
        upto=upto,
        time_format=spec.time_format,
        timezone=spec.timezone,
        source_name=spec.source,
    )
