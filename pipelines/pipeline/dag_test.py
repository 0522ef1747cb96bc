"""The DAG's wiring of settings into its nodes (the nodes' own logic is tested in components/)."""

from pipelines.config import PipelineConfig
from pipelines.names import Node
from pipelines.pipeline.dag import create_pipeline


def test_the_evaluation_window_gets_the_window_and_the_row_cap(tmp_path):
    pipeline = create_pipeline(PipelineConfig(window_spans=5, eval_max_rows=1234, pipeline_root=str(tmp_path)))
    node = next(c for c in pipeline.components if c.id == Node.EVAL_WINDOW)
    # TFX's Resolver keeps the strategy's constructor arguments under `source_uri` (tfx 1.21
    # dsl/components/common/resolver.py:37, 102, 295) and builds ReferenceWindow(**them) from them
    assert node.exec_properties["resolver_class"].__name__ == "ReferenceWindow"
    assert node.exec_properties["source_uri"] == {"num_spans": 5, "max_rows": 1234}
