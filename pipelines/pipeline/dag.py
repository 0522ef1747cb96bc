"""Pipeline wiring: `create_pipeline(config)` is the one definition every runner uses.

    CsvExampleGen (one span) -> StatisticsGen -> ExampleValidator -----------> ValidationGate
                                   ImportSchemaGen (curated schema) --^           ^
    span_history (validated spans before this one) -> DataChecks (span vs history) -/
    span_window (latest N validated spans) -> Transform (analyzer cache) -> Trainer (warm start)
    eval_window (the window without its newest span, capped by rows) -> Evaluator
    baseline (latest blessed model from another window) -> Trainer, Evaluator -> Pusher

Node ids are stable (they name MLMD contexts and output directories). The local runner's
back-fill of a first window uses two more pipelines from the same nodes:
`create_backfill_pipeline` (the older spans' ExampleGen and StatisticsGen, one execution each)
and `create_validation_pipeline` (one span's validation and gate).
"""

from __future__ import annotations

import json
import os
import shlex

import tensorflow_data_validation as tfdv
from ml_metadata.proto import metadata_store_pb2

# TFX's own modules, not the `tfx.v1` facade: importing tfx.v1 also imports tfx.v1.extensions,
# i.e. the Vertex AI and BigQuery clients (google.cloud.aiplatform alone 1.5 s, measured with
# `python -X importtime`), which this pipeline never uses. These are the classes tfx.v1 re-exports
# (tfx 1.21 v1/components, v1/dsl/__init__.py:18-27, v1/proto/__init__.py:55-57).
from tfx.components import (
    CsvExampleGen,
    Evaluator,
    ExampleValidator,
    Pusher,
    StatisticsGen,
    Trainer,
    Transform,
)
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.common.resolver import Resolver
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, range_config_pb2, trainer_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components import pusher as atomic_pusher
from components.data_checks import DataChecks, SpanAcceptance
from components.gate import ValidatedSpan, ValidationGate
from components.schema import CuratedSchemaGen
from components.span_batch import SpanBatchExampleGen, SpanBatchStatisticsGen
from components.window import (
    IngestedSpan,
    LatestBlessedModelOtherWindow,
    LatestCacheOtherWindow,
    ReferenceWindow,
    ValidatedHistory,
    ValidatedSpanWindow,
)
from pipelines.config import PipelineConfig
from pipelines.data.spans import SPAN_PATTERN
from pipelines.names import Node
from pipelines.pipeline.evaluation import eval_config

PREPROCESSING_FN = "pipelines.models.preprocessing.preprocessing_fn"
RUN_FN = "pipelines.models.model.run_fn"
OUTPUT_SPLITS = example_gen_pb2.Output(
    split_config=example_gen_pb2.SplitConfig(
        splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
        ]
    )
)
# Top values and unique counts from a sketch inside TFDV's one combiner, instead of extra Beam
# stages per split (tfdv 1.21 statistics/stats_impl.py:448-459; the sketch is what its in-memory
# statistics always use); the top values are exact while a column has fewer distinct values than
# the sketch's 1,024 buckets, as every curated domain here. Measured on a full run (16 spans, one
# StatisticsGen each): 41.9 s -> 30.3 s.
STATS_OPTIONS = tfdv.StatsOptions(use_sketch_based_topk_uniques=True)


def create_pipeline(config: PipelineConfig, span: int | None = None) -> tfx_pipeline.Pipeline:
    """The pipeline over `span` (None: the latest span under data_root)."""
    custom_config = config.training_config()
    range_config = (
        range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        )
        if span is not None
        else None
    )

    example_gen = CsvExampleGen(
        input_base=config.data_root,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=SPAN_PATTERN)]
        ),
        output_config=OUTPUT_SPLITS,
        range_config=range_config,
    ).with_id(Node.EXAMPLE_GEN)
    schema = CuratedSchemaGen(schema_file=str(config.spec.schema_path())).with_id(Node.SCHEMA)
    statistics = StatisticsGen(examples=example_gen.outputs["examples"], stats_options=STATS_OPTIONS).with_id(
        Node.STATISTICS_GEN
    )
    # The validated spans before this one (by type: every run's), for the span-vs-history checks.
    history = Resolver(
        strategy_class=ValidatedHistory,
        config={"num_spans": history_spans(config)},
        examples=Channel(type=standard_artifacts.Examples),
        validated=Channel(type=ValidatedSpan),
        accepted=Channel(type=SpanAcceptance),
        current=example_gen.outputs["examples"],
    ).with_id(Node.SPAN_HISTORY)
    validator, checks, gate = _validation(
        config, schema, example_gen.outputs["examples"], statistics.outputs["statistics"], history
    )

    # Channels by type (no producer) query the artifacts of *every* run of the pipeline; a channel
    # from an upstream node would see only this run's. TFX does not chain resolvers, so each
    # resolver gets the span channels and computes the window itself; all run after the gate.
    def resolver(node_id: Node, strategy, settings: dict | None = None, **channels) -> Resolver:
        node = Resolver(
            strategy_class=strategy,
            config={"num_spans": config.window_spans, **(settings or {})},
            examples=Channel(type=standard_artifacts.Examples),
            validated=Channel(type=ValidatedSpan),
            **channels,
        ).with_id(node_id)
        node.add_upstream_node(gate)
        return node

    window = resolver(Node.SPAN_WINDOW, ValidatedSpanWindow)
    # The model gate judges on spans an earlier run vetted, the newest eval_max_rows of them
    # (components.window.ReferenceWindow).
    eval_window = resolver(Node.EVAL_WINDOW, ReferenceWindow, {"max_rows": config.eval_max_rows})
    # The analyzer cache makes Transform analyse each span once (per-span analyses combined);
    # on small spans Beam's per-stage overhead outweighs it, hence off by default (config.py).
    analyzer_cache = (
        resolver(
            Node.ANALYZER_CACHE,
            LatestCacheOtherWindow,
            cache=Channel(type=standard_artifacts.TransformCache),
        )
        if config.analyzer_cache
        else None
    )
    baseline = resolver(
        Node.BASELINE,
        LatestBlessedModelOtherWindow,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    )

    transform = Transform(
        examples=window.outputs["examples"],
        schema=schema.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        # Only the dataset: a training hyperparameter change must not invalidate Transform's cache.
        custom_config={"dataset": custom_config["dataset"]},
        analyzer_cache=analyzer_cache.outputs["cache"] if analyzer_cache else None,
        disable_analyzer_cache=not config.analyzer_cache,
        materialize=False,  # Trainer applies the transform graph on the fly: one less copy
        disable_statistics=True,  # the data was profiled by StatisticsGen already
        # tf.Transform's TF1 graph mode: no tf.function tracing of preprocessing_fn per analyzer
        # phase and no TF2 SavedModel tracing. Measured on a one-new-span run (16 spans, two runs
        # each): Transform 11.0/11.4 s in TF2 mode, 8.9/9.2 s here, AUC 0.951-0.952 both ways. The
        # Trainer, the Evaluator and serving load it through TFTransformOutput as before.
        force_tf_compat_v1=True,
    ).with_id(Node.TRANSFORM)
    trainer = Trainer(
        run_fn=RUN_FN,
        examples=window.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema.outputs["schema"],
        base_model=baseline.outputs["model"],
        train_args=trainer_pb2.TrainArgs(num_steps=config.train_steps),
        eval_args=trainer_pb2.EvalArgs(num_steps=None),
        custom_config=custom_config,
    ).with_id(Node.TRAINER)
    evaluator = Evaluator(
        examples=eval_window.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config(config),
    ).with_id(Node.EVALUATOR)
    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=config.model_serving_dir)
        ),
        custom_executor_spec=executor_spec.ExecutorClassSpec(atomic_pusher.Executor),
    ).with_id(Node.PUSHER)

    nodes = [
        schema,
        example_gen,
        statistics,
        validator,
        history,
        checks,
        gate,
        window,
        eval_window,
        analyzer_cache,
        baseline,
        transform,
        trainer,
        evaluator,
        pusher,
    ]
    return _pipeline(config, [n for n in nodes if n is not None])


SEASON_SPANS = 13  # a year of monthly spans and the span being judged


def history_spans(config: PipelineConfig) -> int:
    """How many validated spans the data checks read: the training window's length (their
    thresholds' history, components.data_checks.split_history) and at least SEASON_SPANS, so that
    monthly spans have the same month a year before and any layout a year to judge coverage by."""
    return max(config.window_spans, SEASON_SPANS)


def _validation(config: PipelineConfig, schema, examples: Channel, statistics: Channel, history: Resolver) -> tuple:
    """ExampleValidator, DataChecks and the ValidationGate over one span's examples and statistics."""
    validator = ExampleValidator(statistics=statistics, schema=schema.outputs["schema"]).with_id(Node.EXAMPLE_VALIDATOR)
    checks = DataChecks(
        examples=examples,
        statistics=statistics,
        history=history.outputs["validated"],
        accepted=history.outputs["accepted"],
        config=json.dumps(config.data_checks_config(), sort_keys=True),
    ).with_id(Node.DATA_CHECKS)
    gate = ValidationGate(
        examples=examples, anomalies=validator.outputs["anomalies"], checks=checks.outputs["results"]
    ).with_id(Node.GATE)
    return validator, checks, gate


# --- the back-fill of a first window (pipelines.runners.local) ---------------------------------


def create_backfill_pipeline(config: PipelineConfig, spans: list[int]) -> tfx_pipeline.Pipeline:
    """Ingests the older `spans` of a first window in one execution each of ExampleGen and
    StatisticsGen (components.span_batch: one artifact per span, as CsvExampleGen and
    StatisticsGen would write them). Node ids are the ingestion nodes' own: the output
    directories and ML Metadata's per-node history are where they would be."""
    example_gen = SpanBatchExampleGen(
        input_base=config.data_root, pattern=SPAN_PATTERN, spans=spans, output_config=OUTPUT_SPLITS
    ).with_id(Node.EXAMPLE_GEN)
    statistics = SpanBatchStatisticsGen(examples=example_gen.outputs["examples"], stats_options=STATS_OPTIONS).with_id(
        Node.STATISTICS_GEN
    )
    return _pipeline(config, [example_gen, statistics])


def create_validation_pipeline(config: PipelineConfig, span: int) -> tfx_pipeline.Pipeline:
    """The gate of one back-filled span: its Examples and statistics (the latest
    create_backfill_pipeline wrote for it) through the nodes that judge a new span, against the
    spans validated before it. Spans are judged one at a time, oldest first, because each span's
    checks compare it with the validated spans before it."""
    schema = CuratedSchemaGen(schema_file=str(config.spec.schema_path())).with_id(Node.SCHEMA)
    ingested = Resolver(
        strategy_class=IngestedSpan,
        config={"span": span},
        examples=Channel(type=standard_artifacts.Examples),
        statistics=Channel(type=standard_artifacts.ExampleStatistics),
    ).with_id(Node.INGESTED_SPAN)
    history = Resolver(
        strategy_class=ValidatedHistory,
        config={"num_spans": history_spans(config), "span": span},  # TFX does not chain resolvers
        examples=Channel(type=standard_artifacts.Examples),
        validated=Channel(type=ValidatedSpan),
        accepted=Channel(type=SpanAcceptance),
    ).with_id(Node.SPAN_HISTORY)
    nodes = _validation(config, schema, ingested.outputs["examples"], ingested.outputs["statistics"], history)
    return _pipeline(config, [schema, ingested, history, *nodes])


def _pipeline(config: PipelineConfig, components: list) -> tfx_pipeline.Pipeline:
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=True,
        metadata_connection_config=_sqlite_connection(config.metadata),
        beam_pipeline_args=shlex.split(config.beam_args),
    )


def _sqlite_connection(path: str) -> metadata_store_pb2.ConnectionConfig:
    """The IR's default store (a local run's SQLite file). TFX's sqlite_metadata_connection_config
    makes the file's directory (tfx 1.21 orchestration/metadata.py:94), which for a remote
    pipeline root (gs://...; a Kubeflow run passes its own store to each step) created a local
    `gs:` directory wherever the spec was compiled; only a local path gets one here."""
    if "://" not in path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return connection
