import gc
import time

from pipelines import process


def test_collection_resumes_at_the_first_node_or_after_the_limit():
    try:
        process.pause_collection(limit_s=3600)
        assert not gc.isenabled()
        process.resume_collection()  # what the first node's launch does
        assert gc.isenabled() and gc.get_freeze_count() > 0
        gc.unfreeze()
        process.pause_collection(limit_s=0.05)  # a command that never launches a node
        deadline = time.monotonic() + 5
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
