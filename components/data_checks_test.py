"""Profiles from StatisticsGen's protos, shaped as TFDV 1.21 writes them for CsvExampleGen's output
(measured on a real span: an empty CSV cell is a present feature with no value)."""

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.data_checks import profile_from_statistics


def _split(rows, company_values, fares):
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    ds = stats.datasets.add(num_examples=rows)
    company = ds.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    company.path.step.append("company")
    company.string_stats.common_stats.num_non_missing = rows
    company.string_stats.common_stats.tot_num_values = company_values
    company.string_stats.common_stats.max_num_values = 1
    for value, frequency in (("Flash Cab", company_values * 0.6), ("Taxi Affiliation", company_values * 0.3)):
        company.string_stats.top_values.add(value=value, frequency=frequency)  # TFDV's top_values
    fare = ds.features.add(type=statistics_pb2.FeatureNameStatistics.FLOAT)
    fare.path.step.append("fare")
    fare.num_stats.common_stats.num_non_missing = rows - 1
    fare.num_stats.common_stats.num_missing = 1
    fare.num_stats.common_stats.tot_num_values = rows - 1
    fare.num_stats.num_zeros = 2
    fare.num_stats.min, fare.num_stats.max = fares[0], fares[-1]
    quantiles = fare.num_stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    for low, high in zip(fares, fares[1:], strict=False):
        quantiles.buckets.add(low_value=low, high_value=high)
    return stats


def test_profile_counts_empty_cells_as_missing_and_pools_splits():
    fares = [float(x) for x in range(11)]  # 10 buckets: deciles 1..9
    profile = profile_from_statistics(
        {"train": _split(254, 19, fares), "eval": _split(100, 10, [2 * f for f in fares])}, ["fare"], "fare"
    )
    assert profile["rows"] == 354
    assert profile["missing"]["company"] == pytest.approx((235 + 90) / 354)  # present without a value
    assert profile["missing"]["fare"] == pytest.approx(2 / 354)
    assert profile["zeros"]["fare"] == pytest.approx(4 / 354) and "company" not in profile["zeros"]
    # deciles averaged by the splits' non-missing counts (253 and 99)
    assert profile["deciles"]["fare"][0] == pytest.approx((253 * 1 + 99 * 2) / 352)
    assert len(profile["deciles"]["fare"]) == 9
    assert profile["time"] == [0.0, 20.0]
    assert profile["max"] == {"fare": 20.0}  # the tail check's bound for later spans
    # the top value's share among the values (empty cells aside), pooled: 0.6 in both splits
    assert profile["dominant"]["company"] == pytest.approx(0.6)


def test_an_empty_span_has_rows_zero_and_no_shares():
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.add(num_examples=0)
    profile = profile_from_statistics({"train": stats}, [], "")
    assert profile["rows"] == 0 and profile["missing"] == {} and profile["time"] is None
