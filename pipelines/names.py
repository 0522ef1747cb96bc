"""The vocabulary shared by every package: node ids, node statuses and run outcomes.

Each is a `StrEnum`, so a value compares equal to (and prints as) the string that TFX records in
ML Metadata (node ids are the pipeline-node context names) and that the summary JSON carries.
"""

from __future__ import annotations

import enum


class Node(enum.StrEnum):
    """Node ids of the pipeline (pipelines.pipeline.dag), in execution order."""

    SCHEMA = "ImportSchemaGen"
    EXAMPLE_GEN = "CsvExampleGen"
    STATISTICS_GEN = "StatisticsGen"
    EXAMPLE_VALIDATOR = "ExampleValidator"
    INGESTED_SPAN = "ingested_span"  # back-fill only: a span's Examples and statistics for its gate
    SPAN_HISTORY = "span_history"
    DATA_CHECKS = "DataChecks"
    GATE = "ValidationGate"
    SPAN_WINDOW = "span_window"
    EVAL_WINDOW = "eval_window"
    ANALYZER_CACHE = "analyzer_cache"
    BASELINE = "baseline_model"
    TRANSFORM = "Transform"
    TRAINER = "Trainer"
    EVALUATOR = "Evaluator"
    PUSHER = "Pusher"


# What each node does, in words a person scanning a run understands without knowing TFX: the KFP
# graph's task names (at most 22 characters: the UI truncates longer ones) and the views' titles.
TITLES: dict[str, str] = {
    Node.SCHEMA: "Curated schema",
    Node.EXAMPLE_GEN: "Ingest span",
    Node.STATISTICS_GEN: "Statistics",
    Node.EXAMPLE_VALIDATOR: "Anomalies vs schema",
    Node.INGESTED_SPAN: "Select ingested spans",
    Node.SPAN_HISTORY: "Select span history",
    Node.DATA_CHECKS: "Data checks vs history",
    Node.GATE: "Validation gate",
    Node.SPAN_WINDOW: "Select training window",
    Node.EVAL_WINDOW: "Select eval window",
    Node.ANALYZER_CACHE: "Select analyzer cache",
    Node.BASELINE: "Select baseline model",
    Node.TRANSFORM: "Transform features",
    Node.TRAINER: "Train model",
    Node.EVALUATOR: "Evaluate vs baseline",
    Node.PUSHER: "Push to serving",
}


def title(node_id: str) -> str:
    """A node's title, or its id for a node this table does not know (another pipeline's)."""
    return TITLES.get(node_id, node_id)


class NodeStatus(enum.StrEnum):
    """How one node execution ended."""

    RAN = "ran"
    CACHED = "cached"  # TFX reused an earlier execution's outputs
    RESOLVED = "resolved"  # a resolver: selected artifacts, ran nothing
    SKIPPED = "skipped"
    FAILED = "failed"


class Outcome(enum.StrEnum):
    """How a pipeline run ended: the run summary's status and `openct ct history`'s outcome."""

    PUSHED = "pushed"
    NOT_BLESSED = "not-blessed"  # trained and evaluated; the previous version keeps serving
    UNCHANGED = "unchanged"  # nothing new: every node was a cache hit
    BLOCKED = "blocked"  # stopped by the data validation gate
    FAILED = "failed"
    INGESTED = "ingested"  # an ingestion-only run (older spans of a first window)
    RUNNING = "running"

    @property
    def ok(self) -> bool:
        """A run that ended as designed (exit code 0)."""
        return self in (Outcome.PUSHED, Outcome.NOT_BLESSED, Outcome.UNCHANGED)


# What may start a continuous-training run (`openct ct trigger --on`), in the order they are checked.
TRIGGER_REASONS = ("new-span", "drift", "skew", "degradation")
