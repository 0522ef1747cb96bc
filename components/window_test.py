import json

from tfx.types import standard_artifacts

from components.artifacts import EXAMPLES_ID, span_of
from components.gate import ValidatedSpan
from components.window import (
    IngestedSpan,
    ReferenceWindow,
    ValidatedHistory,
    ValidatedSpanWindow,
    latest_per_span,
)


def _examples(id_, span):
    a = standard_artifacts.Examples()
    a.id = id_
    a.set_int_custom_property("span", span)  # where TFX 1.21's ExampleGen records it
    return a


def _validated(examples_id, id_=0, rows=None):
    r = ValidatedSpan()
    r.id = id_ or examples_id
    r.set_int_custom_property("examples_id", examples_id)
    if rows is not None:  # the profile DataChecks records (components.data_checks.PROFILE)
        r.set_string_custom_property("profile", json.dumps({"rows": rows, "span": examples_id}))
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
    # a back-filled span is named by the config instead (no `current` channel)
    named = ValidatedHistory(num_spans=2, span=5).resolve_artifacts(
        None, {"examples": examples, "validated": validated}
    )
    assert [r.id for r in named["validated"]] == [2, 9]


def _statistics(id_, examples_id):
    s = standard_artifacts.ExampleStatistics()
    s.id = id_
    s.set_int_custom_property(EXAMPLES_ID, examples_id)
    return s


def test_ingested_span_is_the_newest_examples_with_their_own_statistics():
    """Span 2 was ingested twice (ids 2, then 7 after a stopped back-fill): its newest Examples
    and the statistics computed from them, not those of the older copy or of another span."""
    examples = [_examples(1, 1), _examples(2, 2), _examples(7, 2)]
    statistics = [_statistics(11, 1), _statistics(12, 2), _statistics(17, 7)]
    out = IngestedSpan(span=2).resolve_artifacts(None, {"examples": examples, "statistics": statistics})
    assert [a.id for a in out["examples"]] == [7] and [a.id for a in out["statistics"]] == [17]
    missing = IngestedSpan(span=3).resolve_artifacts(None, {"examples": examples, "statistics": statistics})
    assert missing == {"examples": [], "statistics": []}


def test_evaluation_window_leaves_out_the_newest_span():
    examples = [_examples(i, s) for i, s in [(1, 1), (2, 2), (3, 3)]]
    validated = [_validated(i) for i in (1, 2, 3)]
    out = ReferenceWindow(num_spans=3).resolve_artifacts(None, {"examples": examples, "validated": validated})
    assert [span_of(a) for a in out["examples"]] == [1, 2]
    only = ReferenceWindow(num_spans=3).resolve_artifacts(None, {"examples": examples[:1], "validated": validated})
    assert [span_of(a) for a in only["examples"]] == [1]  # a one-span window is evaluated on itself


def test_evaluation_window_keeps_the_newest_spans_that_hold_max_rows():
    examples = [_examples(i, i) for i in range(1, 7)]
    validated = [_validated(i, rows=100 * i) for i in range(1, 6)] + [_validated(6)]  # span 6: no profile
    inputs = {"examples": examples, "validated": validated}
    spans = lambda out: [span_of(a) for a in out["examples"]]  # noqa: E731
    # spans 1-5 of the window 1-6; newest first: 500 + 400 >= 800 rows
    assert spans(ReferenceWindow(num_spans=6, max_rows=800).resolve_artifacts(None, inputs)) == [4, 5]
    assert spans(ReferenceWindow(num_spans=6, max_rows=901).resolve_artifacts(None, inputs)) == [3, 4, 5]
    assert spans(ReferenceWindow(num_spans=6, max_rows=0).resolve_artifacts(None, inputs)) == [1, 2, 3, 4, 5]
    assert spans(ReferenceWindow(num_spans=6, max_rows=10**6).resolve_artifacts(None, inputs)) == [1, 2, 3, 4, 5]
    newest_unknown = {"examples": examples, "validated": [*validated[:4], _validated(5), validated[5]]}
    # span 5 counts 0 rows, span 4 400
    assert spans(ReferenceWindow(num_spans=6, max_rows=350).resolve_artifacts(None, newest_unknown)) == [4, 5]
