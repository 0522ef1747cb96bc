from tfx.types import standard_artifacts

from components.artifacts import span_of
from components.gate import ValidatedSpan
from components.window import ReferenceWindow, ValidatedHistory, ValidatedSpanWindow, latest_per_span


def _examples(id_, span):
    a = standard_artifacts.Examples()
    a.id = id_
    a.set_int_custom_property("span", span)  # where TFX 1.21's ExampleGen records it
    return a


def _validated(examples_id, id_=0):
    r = ValidatedSpan()
    r.id = id_ or examples_id
    r.set_int_custom_property("examples_id", examples_id)
    return r


def test_span_is_read_from_custom_property():
    assert span_of(_examples(1, 7)) == 7


def test_latest_artifact_wins_per_span():
    chosen = latest_per_span([_examples(5, 1), _examples(2, 1), _examples(3, 2)])
    assert {s: a.id for s, a in chosen.items()} == {1: 5, 2: 3}


def test_window_keeps_only_validated_spans_latest_first_n():
    examples = [_examples(i, s) for i, s in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]]
    # span 4 (id 4) failed the gate: no record
    validated = [_validated(i) for i in (1, 2, 3, 5)]
    out = ValidatedSpanWindow(num_spans=3).resolve_artifacts(None, {"examples": examples, "validated": validated})
    assert [span_of(a) for a in out["examples"]] == [2, 3, 5]
    assert out["validated"] == []  # every input key comes back


def test_history_is_the_validated_spans_before_the_judged_one():
    """A rerun of span 5 (already validated once) must resolve the same history: not itself."""
    examples = [_examples(i, s) for i, s in [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]]
    validated = [_validated(i) for i in (1, 2, 4, 5)] + [_validated(4, id_=9)]  # span 3 blocked; span 4 gated twice
    inputs = {"examples": examples, "validated": validated, "current": [examples[4]]}
    out = ValidatedHistory(num_spans=2).resolve_artifacts(None, inputs)
    assert [r.id for r in out["validated"]] == [2, 9]  # spans 2 and 4, span 4's newest record
    assert out["examples"] == [] and out["current"] == []
    first = ValidatedHistory(num_spans=2).resolve_artifacts(None, {**inputs, "current": [examples[0]]})
    assert first["validated"] == []


def test_evaluation_window_leaves_out_the_newest_span():
    examples = [_examples(i, s) for i, s in [(1, 1), (2, 2), (3, 3)]]
    validated = [_validated(i) for i in (1, 2, 3)]
    out = ReferenceWindow(num_spans=3).resolve_artifacts(None, {"examples": examples, "validated": validated})
    assert [span_of(a) for a in out["examples"]] == [1, 2]
    only = ReferenceWindow(num_spans=3).resolve_artifacts(None, {"examples": examples[:1], "validated": validated})
    assert [span_of(a) for a in only["examples"]] == [1]  # a one-span window is evaluated on itself
