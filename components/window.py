"""Resolver strategies for continuous training over a rolling window of spans.

TFX's ExampleGen ingests one span per execution, so the training window is assembled from ML
Metadata by a Resolver (`ValidatedSpanWindow`): the latest N spans that passed the data
validation gate. A span that failed the gate never enters a window.

The baseline model (warm start + Evaluator's comparison) and the Transform analyzer cache are
resolved with lineage in mind. TFX caches a component on its input artifact ids, so if they were
simply "the latest", a rerun with no new data would see new inputs (the model and cache that the
first run produced) and retrain. Both resolvers therefore skip artifacts produced *from the
current window*: an identical rerun resolves exactly what the first run resolved and every
component is a cache hit, while a new span gets the previous blessed model and cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver

from components.artifacts import EXAMPLES_ID, int_prop, span_of, str_prop
from components.data_checks import PROFILE

# Custom properties TFX's Evaluator sets on ModelBlessing (tfx.components.evaluator.constants).
BLESSED = "blessed"
CURRENT_MODEL_ID = "current_model_id"


def latest_per_span(examples: Iterable[types.Artifact]) -> dict[int, types.Artifact]:
    """span -> newest Examples artifact of that span (a re-ingested span replaces the older)."""
    chosen: dict[int, types.Artifact] = {}
    for a in sorted(examples, key=lambda a: a.id):
        chosen[span_of(a)] = a
    return chosen


def _outputs(input_dict: dict[str, list[types.Artifact]], **selected: list[types.Artifact]):
    """TFX expects every input key back from a strategy; keys not selected come back empty."""
    return {key: selected.get(key, []) for key in input_dict}


def validated_window(input_dict: dict[str, list[types.Artifact]], num_spans: int) -> list[types.Artifact]:
    """The latest `num_spans` spans whose Examples have a ValidatedSpan record, by span."""
    passed = {int_prop(r, "examples_id") for r in input_dict["validated"]}
    valid = latest_per_span(a for a in input_dict["examples"] if a.id in passed)
    return [valid[s] for s in sorted(valid)[-num_spans:]]


class ValidatedSpanWindow(resolver.ResolverStrategy):
    """The training window: the latest `num_spans` spans that passed the gate.

    Inputs: `examples` (every Examples artifact of the pipeline), `validated` (every
    ValidatedSpan record). Output: `examples`, the window ordered by span.
    """

    def __init__(self, num_spans: int):
        self.num_spans = int(num_spans)

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        return _outputs(input_dict, examples=validated_window(input_dict, self.num_spans))


def newest_records(records: Iterable[types.Artifact]) -> dict[int, types.Artifact]:
    """examples_id -> the newest ValidatedSpan record for it (a re-run gate records again)."""
    return {int_prop(r, "examples_id", 0) or 0: r for r in sorted(records, key=lambda a: a.id)}


class ValidatedHistory(ValidatedSpanWindow):
    """The history a new span's data checks compare it with: the ValidatedSpan records of the
    latest `num_spans` validated spans *before* the span being judged (in a continuous-training
    cycle, the spans the serving model was trained on).

    Inputs: `examples`, `validated` (all of the pipeline's), `current` (this run's Examples, from
    ExampleGen), or instead the config's `span` (a back-filled span: TFX feeds no resolver's
    output to another), `accepted` (every SpanAcceptance record). Outputs: `validated`, ordered
    by span, empty for the first span; `accepted`, the records of the span being judged. The span
    itself is excluded, so a rerun with nothing new resolves the same records (and is a cache hit);
    a new acceptance makes the data checks run again.
    """

    def __init__(self, num_spans: int, span: int | None = None):
        super().__init__(num_spans)
        self.span = span

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        current = self.span if self.span is not None else min((span_of(a) for a in input_dict["current"]), default=None)
        records = newest_records(input_dict["validated"])
        valid = latest_per_span(a for a in input_dict["examples"] if a.id in records)
        before = [s for s in sorted(valid) if current is None or s < current][-self.num_spans :]
        accepted = [a for a in input_dict.get("accepted", []) if span_of(a) == current]
        return _outputs(input_dict, validated=[records[valid[s].id] for s in before], accepted=accepted)


class IngestedSpan(resolver.ResolverStrategy):
    """A back-filled span's inputs to the gate: the newest Examples of the config's `span` and the
    statistics computed from them (components.span_batch records the Examples' id on each).

    Inputs: `examples`, `statistics` (all of the pipeline's). Outputs: `examples` and
    `statistics`, one artifact each, or empty when the span has not been ingested.
    """

    def __init__(self, span: int):
        self.span = int(span)

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        examples = latest_per_span(input_dict["examples"]).get(self.span)
        if examples is None:
            return _outputs(input_dict)
        profiles = [s for s in input_dict["statistics"] if int_prop(s, EXAMPLES_ID) == examples.id]
        newest = max(profiles, key=lambda a: a.id, default=None)
        return _outputs(input_dict, examples=[examples], statistics=[newest] if newest else [])


class ReferenceWindow(ValidatedSpanWindow):
    """What the Evaluator judges the candidate and the baseline on: the training window without
    its newest span (when it has more than one), i.e. spans already vetted by an earlier run, and
    of those only the newest that hold `max_rows` rows (0: all of them).

    A newly arrived span that passes every data check can still be wrong in a way that flatters a
    model trained on it (labels corrupted consistently with the features); evaluated on itself,
    it would vote for that model. Excluded, it can only lower the candidate's metrics on the older
    spans, never raise them.

    Why a cap: TFMA computes every metric one example at a time in Python, per slice and per model
    (tensorflow_model_analysis 0.52 evaluators/metrics_plots_and_validations_evaluator.py:416-432:
    each combiner's add_inputs for each example), so the Evaluator's time grows with the window's
    rows. Measured at 1.5 million rows: 390 s of a 453-s new-span run on 470,300 evaluation rows.
    The newest spans are the data the next model serves; 100,000 evaluation rows measure an AUC
    to about 0.001. The rows are the spans' own (both splits) as the data checks recorded them on
    their ValidatedSpan records; a span whose record has no row count counts as 0 rows.

    Inputs and output as ValidatedSpanWindow.
    """

    def __init__(self, num_spans: int, max_rows: int = 0):
        super().__init__(num_spans)
        self.max_rows = int(max_rows)

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        window = validated_window(input_dict, self.num_spans)
        reference = window[:-1] if len(window) > 1 else window
        if self.max_rows <= 0:
            return _outputs(input_dict, examples=reference)
        records = newest_records(input_dict["validated"])
        chosen: list[types.Artifact] = []
        rows = 0
        for examples in reversed(reference):  # newest first, until the spans hold max_rows
            if rows >= self.max_rows:
                break
            chosen.insert(0, examples)
            rows += span_rows(records.get(examples.id))
        return _outputs(input_dict, examples=chosen)


def span_rows(record: types.Artifact | None) -> int:
    """The span's rows as DataChecks profiled them, 0 unknown."""
    text = str_prop(record, PROFILE) if record is not None else ""
    return int(json.loads(text).get("rows") or 0) if text else 0


def producer_inputs(store: mlmd.MetadataStore, artifact_id: int, input_key: str) -> set[int]:
    """Ids of the `input_key` artifacts consumed by the execution that produced `artifact_id`."""
    outputs = [
        e
        for e in store.get_events_by_artifact_ids([artifact_id])
        if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
    ]
    if not outputs:
        return set()
    events = store.get_events_by_execution_ids([outputs[0].execution_id])
    return {
        e.artifact_id
        for e in events
        if e.type in (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
        and e.path.steps
        and e.path.steps[0].key == input_key
    }


def _trained_elsewhere(store: mlmd.MetadataStore, artifact: types.Artifact, window_ids: set[int]) -> bool:
    return producer_inputs(store, artifact.id, "examples") != window_ids


class LatestBlessedModelOtherWindow(ValidatedSpanWindow):
    """The latest blessed Model not trained on the current window (see module docstring).

    Inputs: those of ValidatedSpanWindow (TFX does not feed one resolver's output to another),
    plus every `model` and `model_blessing`. Outputs: `model` and `model_blessing`, or empty.
    """

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        window_ids = {a.id for a in validated_window(input_dict, self.num_spans)}
        blessings = {
            int_prop(b, CURRENT_MODEL_ID): b for b in input_dict["model_blessing"] if int_prop(b, BLESSED) == 1
        }
        for model in sorted(input_dict["model"], key=lambda a: a.id, reverse=True):
            if model.id in blessings and _trained_elsewhere(store, model, window_ids):
                return _outputs(input_dict, model=[model], model_blessing=[blessings[model.id]])
        return _outputs(input_dict)


class LatestCacheOtherWindow(ValidatedSpanWindow):
    """The latest Transform analyzer cache not computed on the current window.

    Inputs: those of ValidatedSpanWindow plus every `cache`. Output: `cache`, or empty.
    """

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        window_ids = {a.id for a in validated_window(input_dict, self.num_spans)}
        for cache in sorted(input_dict["cache"], key=lambda a: a.id, reverse=True):
            if _trained_elsewhere(store, cache, window_ids):
                return _outputs(input_dict, cache=[cache])
        return _outputs(input_dict)
