"""Small quarterly spans of the real taxi sample, shared by the monitoring and trigger tests."""

from __future__ import annotations

import json

import pytest

from pipelines.config import PipelineConfig
from pipelines.data.dataset import CHICAGO_TAXI
from pipelines.data.spans import cut_spans
from tests.taxi_sample import small_taxi_csv


@pytest.fixture(scope="module")
def taxi_config(tmp_path_factory) -> PipelineConfig:
    """Six quarterly spans of ~130 taxi trips each (2014-07..2015-12), curated taxi schema."""
    root = tmp_path_factory.mktemp("taxi")
    source = root / "source.csv"
    small_taxi_csv(source, every=9)
    spec_file = root / "taxi-small.json"
    spec_file.write_text(
        json.dumps({**CHICAGO_TAXI.to_dict(), "source": str(source), "schema_file": str(CHICAGO_TAXI.schema_path())})
    )
    cut_spans(source, root / "data", CHICAGO_TAXI.timestamp_column, span_months=3)
    return PipelineConfig(
        dataset=str(spec_file),
        data_root=str(root / "data"),
        pipeline_root=str(root / "pipeline"),
        serving_dir=str(root / "serving"),
        model_name="taxi",
    )
