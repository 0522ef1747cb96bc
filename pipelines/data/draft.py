"""A first dataset spec drafted from a CSV, for a person to review: `openct data draft`.

Column kinds are guessed from the values (the rules are below and printed with each guess), the
label comes from a short expression, and the spec is written beside the CSV. Nothing is trusted
silently: every guess is listed, and the schema drafted with it is a candidate to review
(pipelines.data.schema), like any curated schema.

Rules, in order, for a column that is neither the time column nor a label input:
  no values                                     skipped
  all numbers, integers with <= 24 distinct     categorical (a code: hour, day, zone); codes
                                                0..N-1 with N <= 1000 are encoded as they are
                                                (`codes`), others through a vocabulary
  all numbers otherwise                         numeric (z-score)
  text with <= 1000 distinct values, repeated   categorical, vocabulary top_k = min(distinct, 100)
  text otherwise                                skipped (an identifier or free text)
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from pipelines.data.dataset import DatasetSpec, LabelSpec
from pipelines.data.spans import parse_time, read_rows

MAX_CODE_VALUES = 24
MAX_CODE = 1000  # integer codes below this are one-hot encoded as they are (DatasetSpec.codes)
MAX_CATEGORIES = 1000
MAX_TOP_K = 100
MAX_ROWS = 200_000

_LABEL = re.compile(
    r"^\s*(?P<column>[^=<>*\s]+)\s*(?:(?P<eq>==?)\s*(?P<positive>.+?)"
    r"|>\s*(?P<threshold>[-+0-9.eE]+)\s*(?:\*\s*(?P<relative_to>[^\s*]+))?)\s*$"
)


@dataclasses.dataclass(frozen=True)
class Guess:
    column: str
    kind: str  # numeric | categorical | skipped | time | label
    why: str


def parse_label(expression: str, name: str = "label") -> LabelSpec:
    """`weather==rain` (a class), `tips>5` or `tips>0.2*fare` (a threshold)."""
    m = _LABEL.match(expression)
    if not m:
        raise ValueError(f"label {expression!r}: expected COLUMN==CLASS, COLUMN>NUMBER or COLUMN>NUMBER*COLUMN")
    if m["eq"]:
        return LabelSpec(m["column"], positive=m["positive"].strip().strip("\"'"), name=name)
    return LabelSpec(m["column"], float(m["threshold"]), relative_to=m["relative_to"], name=name)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def guess_kind(column: str, values: list[str]) -> Guess:
    present = [v for v in values if v != ""]
    if not present:
        return Guess(column, "skipped", "no values")
    distinct = set(present)
    if all(_is_number(v) for v in distinct):
        if len(distinct) <= MAX_CODE_VALUES and all(float(v).is_integer() for v in distinct):
            return Guess(column, "categorical", f"{len(distinct)} distinct integers: a code")
        return Guess(column, "numeric", f"numbers, {len(distinct)} distinct")
    if len(distinct) <= MAX_CATEGORIES and len(distinct) < 0.5 * len(present):
        return Guess(column, "categorical", f"text, {len(distinct)} distinct values")
    return Guess(
        column, "skipped", f"text, {len(distinct)} distinct in {len(present)} rows: an identifier or free text"
    )


def code_count(values: set[str]) -> int | None:
    """N when every value is an integer code 0..N-1 with N <= MAX_CODE, else None."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return None
    if not numbers or not all(n.is_integer() and 0 <= n < MAX_CODE for n in numbers):
        return None
    return int(max(numbers)) + 1


def draft_spec(
    csv_path: Path, name: str, time_column: str, label: LabelSpec, time_format: str = "", timezone: str = "UTC"
) -> tuple[DatasetSpec, list[Guess]]:
    """The spec and the guess for every column. Checks the time column parses on every row."""
    header, rows = read_rows(csv_path)
    for column in (time_column, *label.raw_columns):
        if column not in header:
            raise ValueError(f"{csv_path}: no column {column!r} (columns: {', '.join(header)})")
    columns: dict[str, list[str]] = {c: [] for c in header}
    for count, (line_no, row) in enumerate(rows):
        if count >= MAX_ROWS:
            break
        try:
            parse_time(row[header.index(time_column)], time_format, timezone)
        except ValueError:
            raise ValueError(
                f"{csv_path}:{line_no}: {time_column}={row[header.index(time_column)]!r} does not parse with "
                f"--time-format {time_format or '(Unix seconds)'!r}"
            ) from None
        for c, v in zip(header, row, strict=True):
            columns[c].append(v)
    guesses: list[Guess] = []
    for column in header:
        if column == time_column:
            guesses.append(Guess(column, "time", f"spans are cut on it ({time_format or 'Unix seconds'})"))
        elif column in label.raw_columns:
            guesses.append(Guess(column, "label", "the label's input: never a feature"))
        else:
            guesses.append(guess_kind(column, columns[column]))
    numeric = tuple(g.column for g in guesses if g.kind == "numeric")
    categorical: dict[str, int] = {}
    codes: dict[str, int] = {}
    for g in guesses:
        if g.kind == "categorical":
            present = {v for v in columns[g.column] if v}
            n_codes = code_count(present)
            if n_codes is not None:
                codes[g.column] = n_codes
            else:
                categorical[g.column] = min(len(present), MAX_TOP_K)
    spec = DatasetSpec(
        name=name,
        source=str(csv_path),
        timestamp_column=time_column,
        label=label,
        numeric=numeric,
        categorical=categorical,
        codes=codes,
        schema_file=f"{name}.pbtxt",
        time_format=time_format,
        timezone=timezone,
    )
    return spec, guesses


def write_spec(spec: DatasetSpec, path: Path) -> None:
    """The spec as JSON beside the CSV: source and schema relative to it. Never overwrites."""
    if path.exists():
        raise FileExistsError(f"{path} exists; not overwriting a spec someone may have reviewed")
    data = spec.to_dict()
    source = Path(spec.source)
    data["source"] = source.name if source.parent.resolve() == path.parent.resolve() else str(source.resolve())
    path.write_text(json.dumps(data, indent=2) + "\n")


def review_lines(guesses: list[Guess]) -> list[str]:
    width = max(len(g.column) for g in guesses)
    return [f"  {g.column:<{width}}  {g.kind:<11}  {g.why}" for g in guesses]
