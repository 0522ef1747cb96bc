"""The span-vs-history rules, on profiles shaped like the taxi spans' (figures from
docs/design/data-checks.md: ~900-1400 rows, company 31-42% missing, label rate 0.14-0.28).

Each class has a clean span that passes and a corrupted one that fails; the pipeline-level test
of each class (the real StatisticsGen, the gate) is tests/test_e2e.py's bad spans.
"""

import datetime as dt
import hashlib
import json
import math

import pytest

from components import checks
from components.checks import Check, Thresholds, run_checks, scale_factor, span_period

FARE = [4.5, 5.25, 6.0, 6.75, 7.65, 8.85, 10.45, 13.25, 24.5]
MILES = [0.4, 0.7, 0.95, 1.2, 1.6, 2.1, 3.0, 5.2, 11.0]
Q3_2015 = (dt.datetime(2015, 7, 1, tzinfo=dt.UTC).timestamp(), dt.datetime(2015, 10, 1, tzinfo=dt.UTC).timestamp())


def profile(rows=1000, company=0.35, tips_zeros=0.6, duplicates=0.0, label_rate=0.22, fare=1.0, time=None):
    return {
        "rows": rows,
        "missing": {"company": company, "fare": 0.0},
        "zeros": {"tips": tips_zeros, "fare": 0.0},
        "deciles": {"fare": [q * fare for q in FARE], "trip_miles": MILES},
        "time": time or [Q3_2015[0] + 3600, Q3_2015[1] - 3600],
        "duplicates": duplicates,
        "label_rate": label_rate,
        "label": "big_tipper",
    }


HISTORY = [
    profile(rows=900, company=0.31, label_rate=0.18),
    profile(rows=1380, company=0.42, tips_zeros=0.55, label_rate=0.24),
    profile(rows=1100, tips_zeros=0.77, label_rate=0.2, fare=1.05),
]


def failed(new, history=HISTORY, **kw):
    found = run_checks(new, history, Thresholds(), period=Q3_2015, time_feature="ts", now=2e9, **kw)
    return sorted({(c.cls, c.feature) for c in found if not c.passed})


def test_a_clean_span_passes_every_check():
    assert failed(profile()) == []
    assert failed(profile(rows=222, label_rate=0.28)) == []  # the real small spans 13-16: 0.25x the window


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        ({"rows": 0}, ("volume", "(dataset)")),
        ({"rows": 50}, ("volume", "(dataset)")),  # 0.056x the smallest span
        ({"rows": 20000}, ("volume", "(dataset)")),
        ({"company": 0.9}, ("completeness", "company")),
        ({"tips_zeros": 1.0}, ("completeness", "tips")),  # the label input zeroed on every row
        ({"duplicates": 0.25}, ("duplication", "(dataset)")),  # a quarter of the rows exported twice
        ({"time": [Q3_2015[0] * 1000, Q3_2015[1] * 1000]}, ("time", "ts")),  # milliseconds
        ({"time": [Q3_2015[0] - 86400 * 40, Q3_2015[1] - 3600]}, ("time", "ts")),  # rows from the span before
        ({"label_rate": 0.0}, ("label", "big_tipper")),
        ({"label_rate": 0.45}, ("label", "big_tipper")),
        ({"fare": 100.0}, ("scale", "fare")),  # dollars became cents
        ({"fare": 1 / 60}, ("scale", "fare")),
    ],
)
def test_each_class_fails_its_corruption(corrupt, expected):
    assert expected in failed(profile(**corrupt))


def test_the_first_span_gets_only_the_absolute_checks():
    found = run_checks(profile(company=0.99, fare=100.0), [], Thresholds(), period=Q3_2015, time_feature="ts", now=2e9)
    assert {c.cls for c in found} == {"volume", "time", "label"} and all(c.passed for c in found)


def test_small_spans_widen_the_noise_bound():
    """At 200 rows, 4 standard errors of a 0.42 share is 0.14 > the 0.1 margin."""
    check = next(c for c in run_checks(profile(rows=200), HISTORY, Thresholds()) if c.feature == "company")
    assert check.threshold == pytest.approx(0.42 + 4 * math.sqrt(0.42 * 0.58 / 200))


def test_per_feature_scale_factor_and_thresholds_from_a_spec():
    t = Thresholds.from_dict({"scale_factors": {"fare": 1.5}})
    found = run_checks(profile(fare=1.8), HISTORY, t)
    assert [c.feature for c in found if not c.passed] == ["fare"]
    with pytest.raises(ValueError, match="unknown data check thresholds"):
        Thresholds.from_dict({"volume_ratio": 2})
    with pytest.raises(ValueError, match="scale factors"):
        Thresholds(scale_factor=0.5)


def test_scale_factor_needs_comparable_deciles():
    assert scale_factor([q * 3 for q in MILES], [MILES, MILES]) == pytest.approx(3.0)
    assert scale_factor([0, 0, 0, 0, 0, 1, 2, 3, 4], [[0, 0, 0, 0, 0, 1, 2, 3, 4]]) is None  # mostly zeros
    assert scale_factor(MILES, []) is None


def test_check_describes_measured_value_and_threshold():
    c = Check("scale", "fare", 100.0, 3.0, "max", "decile factor vs history (100x)")
    assert not c.passed and c.margin < 0
    assert c.describe() == "decile factor vs history (100x): measured 100, threshold <= 3"
    assert Check.from_dict(c.to_dict()) == c


def test_span_period_follows_the_layout_zone():
    layout = {"first_month": "2013-01", "span_months": 3, "timezone": "America/Chicago"}
    start, end = span_period(layout, 2)
    assert dt.datetime.fromtimestamp(start, dt.UTC) == dt.datetime(2013, 4, 1, 5, tzinfo=dt.UTC)  # CDT
    assert dt.datetime.fromtimestamp(end, dt.UTC) == dt.datetime(2013, 7, 1, 5, tzinfo=dt.UTC)
    assert span_period({}, 2) is None


@pytest.mark.parametrize(
    "features, expected",
    [
        ({"tips": 3.0, "fare": 10.0}, 1),
        ({"tips": 1.0, "fare": 10.0}, 0),
        ({"tips": None, "fare": 10.0}, 0),
        ({"tips": 3.0, "fare": None}, 0),
    ],
)
def test_label_of_a_relative_threshold(features, expected):
    assert checks.label_of(features, {"column": "tips", "threshold": 0.2, "relative_to": "fare"}) == expected


def test_label_of_a_class():
    label = {"column": "weather", "positive": "rain", "threshold": None}
    assert [checks.label_of({"weather": w}, label) for w in ("rain", "sun", None)] == [1, 0, 0]


def test_nan_or_infinity_in_a_numeric_column_fails_whatever_the_history():
    """'NaN' and 'inf' parse as floats, so the schema's FLOAT admits them (seen: a span with `fare`
    NaN in 5% of rows passed the schema, every data check and both gates, and was pushed)."""
    bad = {
        **profile(),
        "nonfinite": {"fare": 0.05, "trip_miles": 0.0},
        "nonfinite_example": {"fare": "fare=nan, tips=1.0"},
    }
    assert failed(bad) == [("finiteness", "fare")]
    assert failed(bad, history=[]) == [("finiteness", "fare")]  # absolute: the first span too
    [check] = [c for c in run_checks(bad, [], Thresholds()) if c.cls == "finiteness" and not c.passed]
    assert "measured 0.05" in check.describe() and "fare=nan, tips=1.0" in check.describe()
    assert failed({**profile(), "nonfinite": {"fare": 0.0}}) == []
    allowed = Thresholds.from_dict({"nonfinite_allowed": ["fare"]})
    assert not [c for c in run_checks(bad, HISTORY, allowed) if not c.passed]


# --- a changed world is not a corrupted file (issue 25: Seattle's weather, 6-month spans) --------
# Real profiles of tests/data/seattle-weather.csv cut in half-years: the share of days with rain
# (the label, precipitation > 0) and of days with precipitation 0.
def weather(label_rate, rows=182):
    return {
        "rows": rows,
        "missing": {"precipitation": 0.0},
        "zeros": {"precipitation": 1 - label_rate},
        "duplicates": 0.0,
        "label_rate": label_rate,
        "label": "rain",
    }


H1_2012, H2_2012, H1_2013, H2_2013 = weather(0.571), weather(0.397, 184), weather(0.486, 181), weather(0.348, 184)


def test_a_short_history_turns_a_relative_failure_into_a_warning():
    """Span 2 (a dry summer) against span 1 (a wet winter) was blocked on main: LABEL 0.1747 >
    0.1459 and COMPLETENESS zero share 0.6033 > 0.5745. With 6 months of history it warns."""
    found = run_checks(H2_2012, [H1_2012], Thresholds(), history_months=6, label_inputs=["precipitation"])
    failing = [c for c in found if not c.passed]
    assert {(c.cls, c.feature) for c in failing} == {("label", "rain"), ("completeness", "precipitation")}
    assert all(c.warns and not c.blocks for c in failing)
    assert "history covers 6 months, less than the 12 months" in failing[0].describe()
    # a year of history: the same comparison blocks
    assert all(c.blocks for c in run_checks(H2_2012, [H1_2012], Thresholds(), history_months=12) if not c.passed)
    # no layout: MIN_HISTORY_SPANS spans are enough
    assert all(c.warns for c in run_checks(H2_2012, [H1_2012], Thresholds()) if not c.passed)


def test_the_same_period_a_year_before_absolves_a_seasonal_change():
    """A dry summer fails against a history of wet half-years, and passes against last summer."""
    history = [H1_2012, weather(0.6), weather(0.62), weather(0.59)]
    recent = [c for c in run_checks(H2_2013, history, Thresholds(), history_months=24) if c.blocks]
    assert [(c.cls, c.feature) for c in recent] == [("completeness", "precipitation"), ("label", "rain")]
    found = run_checks(H2_2013, history, Thresholds(), history_months=24, seasonal=[H2_2012])
    assert not [c for c in found if not c.passed]
    assert any("same period a year before mean 0.397" in c.what for c in found if c.cls == "label")
    # a corruption unlike both the history and last year's period still blocks
    dry = weather(0.02)
    assert [c.cls for c in run_checks(dry, history, Thresholds(), history_months=24, seasonal=[H2_2012]) if c.blocks]


# The rainy-day share of the real quarters 2012-Q1 to 2013-Q2 (91-92 days each), and 2013-Q3's.
QUARTERS = [weather(r, rows=91) for r in (0.6923, 0.4505, 0.1087, 0.6848, 0.5556, 0.4176)]


def test_a_label_rate_within_a_years_range_is_a_season_not_a_fault():
    """2013-Q3 (0.25) is 0.235 from the mean of a year and a half (0.485) and 0.141 from 2012-Q3
    (0.109), both over their limits: it blocked the real quarterly replay. The history covers its
    seasons, and 0.25 is inside the range of their rates: it passes. A flipped label does not."""
    q3 = weather(0.25, rows=92)
    found = run_checks(q3, QUARTERS, Thresholds(), history_months=18, seasonal=[QUARTERS[2]])
    [label] = [c for c in found if c.cls == "label" and c.bound == "max"]
    assert label.passed and "range [0.109, 0.692]" in label.what
    flipped = weather(0.95, rows=92)
    assert [c.cls for c in run_checks(flipped, QUARTERS, Thresholds(), history_months=18) if c.blocks] == ["label"]


def test_a_constant_or_missing_label_blocks_whatever_the_history():
    """The label's input zeroed (or its column emptied) blocks with one span of history too."""
    zeroed = {**weather(0.0), "missing": {"precipitation": 0.0}}
    found = run_checks(zeroed, [H1_2012], Thresholds(), history_months=6, label_inputs=["precipitation"])
    assert [(c.cls, c.feature, c.measured) for c in found if c.blocks] == [("label", "rain", 0)]
    emptied = {**weather(0.3), "missing": {"precipitation": 0.4}}
    found = run_checks(emptied, [H1_2012], Thresholds(), history_months=6, label_inputs=["precipitation"])
    assert [(c.cls, c.feature) for c in found if c.blocks] == [("completeness", "precipitation")]
    # a rare label is not judged constant where a constant span is likely (expected count < 16)
    rare = [weather(0.01, rows=1000)]
    assert not [
        c
        for c in run_checks(weather(0.0, rows=1000), rare, Thresholds())
        if c.cls == "label" and c.blocks and c.bound == "min"
    ]
    assert not [c for c in run_checks(weather(0.0, rows=50), [], Thresholds()) if not c.passed]  # too few rows


def test_old_records_without_a_severity_read_as_blocking():
    old = {"cls": "label", "feature": "rain", "measured": 0.2, "threshold": 0.1, "bound": "max", "what": "x"}
    assert Check.from_dict(old).blocks and Check.from_dict({**old, "severity": "warn"}).warns


def _sketch(rows):
    """A RowSketch of byte strings standing for rows (64-bit BLAKE2b as a uniform hash)."""
    return checks.RowSketch.of(
        int.from_bytes(hashlib.blake2b(r, digest_size=8).digest(), "big") for r in rows
    ).to_dict()


def test_a_row_sketch_measures_the_share_of_rows_an_earlier_span_had():
    """Bottom-k sketches of 5,000 and 2,000 rows, 30% of the second from the first: the share is
    measured on a uniform sample of the rows (the hashes below both limits), within noise."""
    old = [f"trip {i}".encode() for i in range(5000)]
    new = old[:600] + [f"new trip {i}".encode() for i in range(1400)]
    share, sampled = checks.containment(_sketch(new), _sketch(old))
    assert 150 < sampled <= checks.SKETCH_SIZE and share == pytest.approx(0.3, abs=4 * math.sqrt(0.21 / sampled))
    small = _sketch(old[:100])  # fewer rows than the sketch holds: every row is in it
    assert small["limit"] == f"{2**64 - 1:016x}" and len(small["hashes"]) == 100
    share, sampled = checks.containment(small, _sketch(old))  # sampled where both sketches are complete
    assert share == 1.0 and 0 < sampled < 40
    assert json.loads(json.dumps(_sketch(new))) == _sketch(new)  # stored in a ValidatedSpan's profile


def test_a_span_that_repeats_an_earlier_ones_rows_blocks():
    old = [f"day {i}".encode() for i in range(180)]
    history = [{**weather(0.5), "rows_sketch": _sketch(old), "span": 1, "repeats": None}]
    again = {**weather(0.5), "rows_sketch": _sketch(old[:170] + [b"x"] * 10)}
    again["repeats"] = checks.repeats(again, [(1, history[0])])
    assert again["repeats"] == {"span": 1, "share": pytest.approx(170 / 171), "sampled": 171}
    found = [c for c in run_checks(again, history, Thresholds(), history_months=6) if c.blocks]
    assert [(c.cls, c.what.split(",")[0]) for c in found] == [("duplication", "share of rows repeating span 1's")]
    fresh = {**weather(0.5), "rows_sketch": _sketch([f"other day {i}".encode() for i in range(180)])}
    fresh["repeats"] = checks.repeats(fresh, [(1, history[0])])
    assert fresh["repeats"]["share"] == 0 and not [c for c in run_checks(fresh, history, Thresholds()) if c.blocks]


def test_a_categorical_feature_collapsing_to_one_value_is_caught():
    history = [{**profile(), "dominant": {"payment_type": share}} for share in (0.52, 0.58, 0.55)]
    assert failed({**profile(), "dominant": {"payment_type": 0.6}}, history) == []
    assert failed({**profile(), "dominant": {"payment_type": 1.0}}, history) == [("category", "payment_type")]


def test_a_few_extreme_values_are_caught_where_no_decile_moves():
    """3% of fares x100: the deciles stay, the share above the history's largest fare does not."""
    history = [{**profile(), "beyond": {"fare": {"bound": 80.0, "share": s}}} for s in (0.0, 0.002, 0.001)]
    clean = {**profile(), "beyond": {"fare": {"bound": 95.0, "share": 0.001}}}
    assert failed(clean, history) == []
    tail = {**profile(), "beyond": {"fare": {"bound": 95.0, "share": 0.03}}}
    [check] = [c for c in run_checks(tail, history, Thresholds(), history_months=24) if c.blocks]
    assert (check.cls, check.feature) == ("tail", "fare") and "above 95, the history's largest" in check.what
    # one record day in 90 (Seattle, 2015-Q1: 1 day above 46.7 mm, a quarter that blocked on 0.011 > 0.01)
    rain = [{**weather(0.5, rows=90), "beyond": {"precipitation": {"bound": 40.0, "share": 0.0}}}] * 4
    one_day = {**weather(0.5, rows=90), "beyond": {"precipitation": {"bound": 46.7, "share": 1 / 90}}}
    assert not [c for c in run_checks(one_day, rain, Thresholds(), history_months=24) if c.cls == "tail" and c.blocks]
    assert checks.tail_bounds([{"max": {"fare": 80.0}}, {"max": {"fare": 95.0, "tips": 20.0}}]) == {
        "fare": 95.0,
        "tips": 20.0,
    }


def test_the_scale_limit_narrows_to_what_the_history_moved():
    """fare moved by at most x1.10 over the 16 taxi spans and trip_miles by x1.79: kilometres for
    miles (x1.61) passes the fixed x3 and fails fare's history-based limit of max(1.1^2, 1.3)."""
    t = Thresholds()
    assert checks.scale_limit("fare", [1.04, 1.10], t) == 3.0  # fewer than 3 factors on record
    assert checks.scale_limit("fare", [1.04, 1.10, 1 / 1.05], t) == pytest.approx(1.3)
    assert checks.scale_limit("trip_miles", [1.3, 1.62, 1.79], t) == 3.0  # capped by the fixed factor
    assert checks.scale_limit("fare", [1.04, 1.10, 1.05], Thresholds.from_dict({"scale_factors": {"fare": 2}})) == 2
    history = [{**h, "scale": {"fare": f}} for h, f in zip(HISTORY, (1.04, 1.10, 1.05), strict=True)]
    assert failed(profile(fare=1.609), history) == [("scale", "fare")]
    assert failed(profile(fare=1.2), history) == []
