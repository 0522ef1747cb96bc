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
