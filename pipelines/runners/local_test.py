from pipelines.runners.local import backfill_plan


def test_a_fresh_store_backfills_the_windows_older_spans():
    assert backfill_plan(list(range(1, 11)), window_spans=4, judged=set()) == [7, 8, 9]


def test_judged_spans_are_not_backfilled_again():
    """Span 8 was refused and 9 never judged (the back-fill stopped at 8): only 9 is left; the
    newest span is the pipeline's own, never back-filled."""
    assert backfill_plan(list(range(1, 11)), window_spans=4, judged={7, 8}) == [9]
    assert backfill_plan(list(range(1, 11)), window_spans=4, judged={7, 8, 9}) == []
    assert backfill_plan([3], window_spans=4, judged=set()) == []
