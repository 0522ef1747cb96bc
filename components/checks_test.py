"""The span-vs-history rules, on profiles shaped like the taxi spans' (figures from
docs/design/data-checks.md: ~900-1400 rows, company 31-42% missing, label rate 0.14-0.28).

Each class has a clean span that passes and a corrupted one that fails; the pipeline-level test
of each class (the real StatisticsGen, the gate) is tests/test_e2e.py's bad spans.
"""

import datetime as dt
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
    assert {c.cls for c in found} == {"volume", "time"} and all(c.passed for c in found)


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
