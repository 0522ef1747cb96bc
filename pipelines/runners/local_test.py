import signal
import subprocess
import sys
import time

from pipelines.runners.local import backfill_plan, store_lock

# Holds the flock that store_lock takes (the same call on the same file), prints "held", sleeps.
HOLDER = (
    "import fcntl, sys, time\n"
    "f = open(sys.argv[1], 'a+')\n"
    "fcntl.flock(f, fcntl.LOCK_EX)\n"
    "f.write('pid 1, the test holder'); f.flush()\n"
    "print('held', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


def test_a_fresh_store_backfills_the_windows_older_spans():
    assert backfill_plan(list(range(1, 11)), window_spans=4, judged=set()) == [7, 8, 9]


def test_judged_spans_are_not_backfilled_again():
    """Span 8 was refused and 9 never judged (the back-fill stopped at 8): only 9 is left; the
    newest span is the pipeline's own, never back-filled."""
    assert backfill_plan(list(range(1, 11)), window_spans=4, judged={7, 8}) == [9]
    assert backfill_plan(list(range(1, 11)), window_spans=4, judged={7, 8, 9}) == []
    assert backfill_plan([3], window_spans=4, judged=set()) == []


def _hold(store, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"{store}.lock", str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_second_run_on_one_store_waits_for_the_first(tmp_path):
    """Two runs at once on one store both pushed (main at cf86194); the second now waits, told who holds it."""
    store = tmp_path / "pipeline" / "metadata.sqlite"
    store.parent.mkdir()
    holder = _hold(store, 1.5)
    told: list[str] = []
    started = time.monotonic()
    with store_lock(str(store), told.append):
        assert time.monotonic() - started > 1.2  # entered only once the holder let go (1.5 s after it took it)
    holder.wait(timeout=10)
    assert told == [f"another run holds {store}.lock (pid 1, the test holder): waiting for it to finish"]
    with store_lock(str(store), told.append):  # free again: no wait, no message
        pass
    assert len(told) == 1


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
    """kill -9 of the holder: the kernel drops its flock, the next run starts at once."""
    store = tmp_path / "metadata.sqlite"
    holder = _hold(store, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with store_lock(str(store)):
        assert time.monotonic() - started < 1.0


def test_a_view_that_cannot_be_written_does_not_hide_the_node_failure(tmp_path):
    """The disk full: the failed node's page cannot be written; the failure must still reach the
    summary (measured: ENOSPC during Trainer surfaced as a bare `[Errno 28]`)."""
    from pipelines.names import NodeStatus
    from pipelines.runners.launcher import NodeResult
    from pipelines.runners.local import _write_view

    blocked = tmp_path / "views"
    blocked.write_text("a file where the directory should be")  # any OSError, as ENOSPC is
    failed = NodeResult("Trainer", NodeStatus.FAILED, 1.0, error=OSError(28, "No space left on device"))
    _write_view(blocked, failed)  # no exception
    _write_view(tmp_path / "ok", failed)
    assert "Trainer" in (tmp_path / "ok" / "Trainer.html").read_text()
