import csv
import datetime as dt
import hashlib

import pytest

from pipelines.data.spans import cut_spans, existing_spans


def _ts(year, month, day=15):
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp())


def _write(path, rows, header=("t", "x")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _digest(root):
    return {p.parent.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.glob("span-*/data.csv"))}


def test_cuts_by_period_deterministically(tmp_path):
    src = tmp_path / "src.csv"
    _write(src, [(_ts(2020, 1), 1), (_ts(2020, 5), 2), (_ts(2020, 2), 3), (_ts(2020, 12), 4)])
    written, present = cut_spans(src, tmp_path / "a", "t", span_months=3)
    assert [(s.number, s.rows) for s in written] == [(1, 2), (2, 1), (4, 1)]  # no data, no span 3
    assert (written[0].start, written[0].end) == (dt.date(2020, 1, 1), dt.date(2020, 4, 1))
    assert present == []
    assert existing_spans(tmp_path / "a") == [1, 2, 4]
    rows = list(csv.reader((tmp_path / "a" / "span-1" / "data.csv").read_text().splitlines()))
    assert rows == [["t", "x"], [str(_ts(2020, 1)), "1"], [str(_ts(2020, 2)), "3"]]  # source order kept
    cut_spans(src, tmp_path / "b", "t", span_months=3)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_idempotent_and_never_overwrites(tmp_path):
    src = tmp_path / "src.csv"
    _write(src, [(_ts(2020, 1), 1), (_ts(2020, 4), 2)])
    root = tmp_path / "data"
    cut_spans(src, root, "t", span_months=3, upto=1)
    assert existing_spans(root) == [1]
    (root / "span-1" / "data.csv").write_text("t,x\n1,edited\n")
    written, present = cut_spans(src, root, "t", span_months=3)
    assert [s.number for s in written] == [2] and [s.number for s in present] == [1]
    assert (root / "span-1" / "data.csv").read_text() == "t,x\n1,edited\n"  # untouched
    assert not list(root.glob(".span-*"))  # no temporary leftovers


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty CSV"),
        ("a,b\n1,2\n", "no column 't'"),
        ("t,x\n", "no data rows"),
        ("t,x\nyesterday,1\n", r"src.csv:2: t='yesterday' is not a Unix time"),
        ("t,x\n1,2,3\n", r"src.csv:2: 3 fields, header has 2"),
    ],
)
def test_bad_source_names_file_and_problem(tmp_path, content, message):
    src = tmp_path / "src.csv"
    src.write_text(content)
    with pytest.raises(ValueError, match=message):
        cut_spans(src, tmp_path / "out", "t", span_months=1)
    assert existing_spans(tmp_path / "out") == []


def test_check_span_file_names_file_and_line(tmp_path):
    from pipelines.data.spans import check_span_file

    good = tmp_path / "good.csv"
    _write(good, [(1, 2), (3, 4)])
    check_span_file(good)
    bad = tmp_path / "bad.csv"
    bad.write_text("t,x\n1,2\n3\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: 1 fields, header has 2"):
        check_span_file(bad)


def test_dates_are_read_in_their_zone_and_spans_carry_unix_seconds(tmp_path):
    src = tmp_path / "src.csv"
    # Chicago is UTC-6 in winter: 2012/01/31 23:30 there is already February in UTC.
    _write(src, [("2012/01/01 00:00", 1), ("2012/01/31 23:30", 2), ("2012/02/01 00:00", 3)])
    written, _ = cut_spans(
        src, tmp_path / "d", "t", span_months=1, time_format="%Y/%m/%d %H:%M", timezone="America/Chicago"
    )
    assert [(s.number, s.rows) for s in written] == [(1, 2), (2, 1)]  # months of the data's own zone
    rows = list(csv.reader((tmp_path / "d" / "span-1" / "data.csv").read_text().splitlines()))
    chicago = dt.timezone(dt.timedelta(hours=-6))
    assert rows[1] == [str(int(dt.datetime(2012, 1, 1, tzinfo=chicago).timestamp())), "1"]
    iso = tmp_path / "iso.csv"
    _write(iso, [("2012-01-05", 1), ("2012-03-01T08:00:00+01:00", 2)])
    written, _ = cut_spans(iso, tmp_path / "i", "t", span_months=2, time_format="iso")
    assert [(s.number, s.rows) for s in written] == [(1, 1), (2, 1)]


@pytest.mark.parametrize(
    "value, time_format, message",
    [
        ("2012/13/01", "%Y/%m/%d", r"src.csv:3: t='2012/13/01' does not match time_format '%Y/%m/%d'"),
        ("2012/01/01", "", r"src.csv:3: t='2012/01/01' is not a Unix time \(seconds\); for dates set \"time_format\""),
    ],
)
def test_a_time_that_matches_no_format_is_named_with_file_and_line(tmp_path, value, time_format, message):
    src = tmp_path / "src.csv"
    _write(src, [("2012/01/01" if time_format else "1325376000", 1), (value, 2)])
    with pytest.raises(ValueError, match=message):
        cut_spans(src, tmp_path / "out", "t", span_months=1, time_format=time_format)
    assert not (tmp_path / "out").exists()  # nothing written, not even the layout


def test_the_layout_belongs_to_the_data_root(tmp_path):
    """README's old sequence cut 3-month spans next to 6-month ones; now the root refuses it."""
    from pipelines.data.spans import read_layout, span_months_of

    src = tmp_path / "src.csv"
    _write(src, [(_ts(2020, m), m) for m in range(1, 13)])
    root = tmp_path / "data"
    written, _ = cut_spans(src, root, "t", span_months=6)
    assert [s.number for s in written] == [1, 2]
    layout = read_layout(root)
    assert (layout.span_months, layout.first_month, layout.time_column) == (6, "2020-01", "t")
    before = _digest(root)
    with pytest.raises(ValueError, match=r"span_months=3 \(recorded: 6\).*--span-months 6.*nothing was written"):
        cut_spans(src, root, "t", span_months=3)
    assert _digest(root) == before and existing_spans(root) == [1, 2]
    written, present = cut_spans(src, root, "t")  # unset: the recorded period
    assert written == [] and [s.number for s in present] == [1, 2] and span_months_of(root) == 6
    other = tmp_path / "other.csv"
    other.write_bytes(src.read_bytes())
    with pytest.raises(ValueError, match="source="):
        cut_spans(other, root, "t")
    _write(src, [(_ts(2019, 12), 0)] + [(_ts(2020, m), m) for m in range(1, 13)])
    with pytest.raises(ValueError, match="before 2020-01, where this data root's span 1 begins"):
        cut_spans(src, root, "t")  # new rows older than span 1 would renumber every span


def test_an_unknown_timezone_is_refused(tmp_path):
    src = tmp_path / "src.csv"
    _write(src, [("2012/01/01", 1)])
    with pytest.raises(ValueError, match="'Mars/Olympus' is not an IANA time zone"):
        cut_spans(src, tmp_path / "out", "t", span_months=1, time_format="%Y/%m/%d", timezone="Mars/Olympus")


def test_the_data_checks_period_of_each_span_holds_its_rows(tmp_path):
    """components.checks.span_period (what the gate's time check reads from layout.json) agrees
    with how spans are cut, in the data's own zone, at the month edges."""
    import json

    from components.checks import span_period
    from pipelines.data.spans import read_rows, span_path

    src = tmp_path / "src.csv"
    edges = ["2012/01/01 00:00", "2012/01/31 23:30", "2012/02/29 23:00", "2012/03/31 23:59", "2012/04/01 00:00"]
    _write(src, [(v, i) for i, v in enumerate(edges)])
    root = tmp_path / "d"
    cut_spans(src, root, "t", span_months=2, time_format="%Y/%m/%d %H:%M", timezone="America/Chicago")
    layout = json.loads((root / "layout.json").read_text())
    for number in existing_spans(root):
        start, end = span_period(layout, number)
        _, rows = read_rows(span_path(root, number))
        assert all(start <= int(row[0]) < end for _, row in rows), number
    assert existing_spans(root) == [1, 2]  # Jan-Feb, Mar-Apr


def test_a_header_tfx_would_misread_is_refused_naming_file_and_fix(tmp_path):
    """Valid CSV that TFX's CsvExampleGen reads as other columns (it splits the header line on
    commas: tfx/utils/io_utils.py:191-194): seen blocked as SCHEMA_NEW_COLUMN on '"company"'.
    Refused before ExampleGen instead; what TFX reads correctly passes."""
    from pipelines.data.spans import check_span_file

    rows = '"1.5","Cash, or card"\n"2.0","Card"\n'
    cases = {
        "quoted.csv": ('"fare","payment_type"\n' + rows, "quoted names"),
        "bom.csv": ("\ufefffare,payment_type\n1.5,Cash\n", "byte-order mark"),
    }
    for name, (text, problem) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=problem) as refused:
            check_span_file(path)
        assert str(path) in str(refused.value) and refused.value.args[0].endswith(": fare,payment_type")
    for name, text in {
        "crlf.csv": "fare,payment_type\r\n1.5,Cash\r\n",
        "quoted_rows.csv": "fare,payment_type\n" + rows,
    }.items():
        (tmp_path / name).write_bytes(text.encode())
        check_span_file(tmp_path / name)  # TFX strips the header's \r and parses quoted fields in rows
