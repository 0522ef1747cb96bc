"""Two runs at once on one store (issue 25, crashes and concurrency, point 2).

Measured on main at cf86194: two `make run` started 3 s apart on one store with one new span both
trained and both pushed (versions 2 and 3 from the same span). Here two `openct local run`
processes start 2 s apart on a new span: the second waits for the first (a flock on the store,
pipelines.runners.local.store_lock, naming the holder), then finds every node cached. One push,
ML Metadata and the serving directory intact.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from pipelines.config import REPO_ROOT
from pipelines.runners.local import run_local
from tests.test_e2e import World

pytestmark = pytest.mark.e2e


def test_a_second_run_on_one_store_waits_and_pushes_nothing_twice(tmp_path):
    world = World(tmp_path)
    world.arrive(upto=3)
    assert run_local(world.config).pushed_version == 1
    world.arrive(upto=4)

    def start(name: str) -> subprocess.Popen:
        flags = world.flags()
        flags[flags.index("--summary-json") + 1] = str(tmp_path / f"{name}.json")
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "local", "run", "--no-prepare", *flags],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    first = start("first")
    time.sleep(2)
    second = start("second")
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    summaries = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("first", "second")]
    assert [s["status"] for s in summaries] == ["pushed", "unchanged"], outputs[1][-3000:]
    assert summaries[0]["pushed_version"] == 2 and world.versions() == [1, 2]
    assert f"another run holds {world.config.metadata}.lock (pid {first.pid}" in outputs[1]
    assert summaries[1]["ran_nodes"] == 0
