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
