"""Drafting a dataset spec from a CSV: kinds guessed by the documented rules, labels parsed."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest

from pipelines.data import draft
from pipelines.data.dataset import DatasetSpec, LabelSpec


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("weather==rain", LabelSpec("weather", positive="rain", name="y")),
        ("weather = 'heavy rain'", LabelSpec("weather", positive="heavy rain", name="y")),
        ("tips>5", LabelSpec("tips", 5.0, name="y")),
        ("tips > 0.2*fare", LabelSpec("tips", 0.2, relative_to="fare", name="y")),
    ],
)
def test_label_expressions(expression, expected):
    assert draft.parse_label(expression, name="y") == expected


def test_a_bad_label_expression_says_what_is_expected():
    with pytest.raises(ValueError, match="expected COLUMN==CLASS"):
        draft.parse_label("tips >> fare")


def test_kinds_follow_the_rules():
    assert draft.guess_kind("c", ["", ""]).kind == "skipped"
    assert draft.guess_kind("hour", [str(h % 24) for h in range(100)]).kind == "categorical"
    assert draft.guess_kind("temp", [f"{t / 3:.2f}" for t in range(100)]).kind == "numeric"
    assert draft.guess_kind("count", [str(n) for n in range(100)]).kind == "numeric"  # many integers: a number
    assert draft.guess_kind("city", ["a", "b", "c"] * 20).kind == "categorical"
    assert draft.guess_kind("id", [f"id-{n}" for n in range(100)]).kind == "skipped"


def test_draft_spec_of_a_dated_csv_and_no_overwrite(tmp_path):
    path = tmp_path / "weather.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", "precipitation", "wind", "station", "weather"])
        for day in range(60):
            date = dt.date(2014, 1, 1) + dt.timedelta(days=day)
            w.writerow(
                [
                    f"{date:%Y/%m/%d}",
                    f"{day % 7 * 1.3:.1f}",
                    f"{day % 11}.5",
                    "north" if day % 2 else "south",
                    "rain" if day % 3 == 0 else "sun",
                ]
            )
    spec, guesses = draft.draft_spec(path, "weather", "date", draft.parse_label("weather==rain"), "%Y/%m/%d")
    assert {g.column: g.kind for g in guesses} == {
        "date": "time",
        "precipitation": "numeric",
        "wind": "numeric",
        "station": "categorical",
        "weather": "label",
    }
    assert spec.categorical == {"station": 2} and spec.time_format == "%Y/%m/%d"
    draft.write_spec(spec, tmp_path / "weather.json")
    loaded = DatasetSpec.from_json_file(tmp_path / "weather.json")
    assert json.loads((tmp_path / "weather.json").read_text())["source"] == "weather.csv"  # beside the spec
    assert loaded.source_path() == path and loaded.label.positive == "rain"
    with pytest.raises(FileExistsError, match="not overwriting"):
        draft.write_spec(spec, tmp_path / "weather.json")
    with pytest.raises(ValueError, match=r"weather.csv:2: date='2014/01/01' does not parse"):
        draft.draft_spec(path, "weather", "date", draft.parse_label("weather==rain"), "%d.%m.%Y")


def test_integer_codes_are_encoded_as_they_are():
    assert draft.code_count({"0", "3", "23"}) == 24
    assert draft.code_count({"2.0", "1"}) == 3
    assert draft.code_count({"-1", "2"}) is None  # negative: through a vocabulary
    assert draft.code_count({"5000", "1"}) is None  # too wide for a one-hot of the code
    assert draft.code_count({"a", "1"}) is None
