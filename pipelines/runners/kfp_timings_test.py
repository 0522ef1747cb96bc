"""Task timings from pods shaped as KFP 2.17.0 on kind made them (node names, containers and
timestamps as `kubectl get pod -o json` showed them for a real run of our pipeline)."""

from __future__ import annotations

import pytest

from pipelines.runners import kfp_timings


def pod(name: str, node: str, created: str, started: str, finished: str | None) -> dict:
    state = {"terminated": {"startedAt": started, "finishedAt": finished}} if finished else {"running": {}}
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "annotations": {kfp_timings.NODE_NAME: node},
            "labels": {kfp_timings.RUN_LABEL: "run-1"},
        },
        "status": {
            "containerStatuses": [
                {"name": "main", "state": state},
                {"name": "wait", "state": state},
            ]
        },
    }


def test_each_task_is_its_driver_pod_then_its_executor_pod():
    pods = [
        pod("root-d", "wf(0).root-driver(0)", "2026-12-05T05:20:00Z", "2026-12-05T05:20:01Z", "2026-12-05T05:20:03Z"),
        pod(
            "t-d",
            "wf(0).root(0).trainer-driver(0)",
            "2026-12-05T05:24:01Z",
            "2026-12-05T05:24:02Z",
            "2026-12-05T05:24:04Z",
        ),
        pod(
            "t-e",
            "wf(0).root(0).trainer(0).executor(0)",
            "2026-12-05T05:24:11Z",
            "2026-12-05T05:24:14Z",
            "2026-12-05T05:24:24Z",
        ),
        pod(
            "w-d",
            "wf(0).root(0).eval-window-driver(0)",
            "2026-12-05T05:23:00Z",
            "2026-12-05T05:23:01Z",
            "2026-12-05T05:23:03Z",
        ),
        pod("w-e", "wf(0).root(0).eval-window(0).executor(0)", "2026-12-05T05:23:09Z", "2026-12-05T05:23:12Z", None),
    ]
    logs = {"t-e": "step Trainer: started (run run-1)\n[ 1/1] Trainer           ran         5.2 s  -> /mnt/x\n"}
    [trainer] = kfp_timings.task_timings(pods, logs)  # root's driver has no executor; eval-window runs still
    assert (trainer.task, trainer.driver, trainer.handoff, trainer.startup, trainer.process) == ("trainer", 3, 7, 3, 10)
    assert trainer.work == 5.2 and trainer.wall == 23 and trainer.overhead == pytest.approx(17.8)
    numbers = kfp_timings.summary([trainer])
    assert numbers["median_overhead"] == pytest.approx(17.8) and numbers["work"] == 5.2


def test_a_task_without_its_progress_line_counts_all_its_time_as_overhead():
    pods = [
        pod(
            "c-d",
            "wf(0).root(0).compile-ir-driver(0)",
            "2026-12-05T05:20:00Z",
            "2026-12-05T05:20:00Z",
            "2026-12-05T05:20:03Z",
        ),
        pod(
            "c-e",
            "wf(0).root(0).compile-ir(0).executor(0)",
            "2026-12-05T05:20:10Z",
            "2026-12-05T05:20:13Z",
            "2026-12-05T05:20:19Z",
        ),
    ]
    [task] = kfp_timings.task_timings(pods, {"c-e": "wrote /tmp/ir.json\n"})
    assert task.task == "compile-ir" and task.work is None and task.overhead == task.wall == 19


def test_only_a_tasks_executor_pod_runs_its_main_container():
    assert kfp_timings.is_executor("wf(0).root(0).trainer(0).executor(0)")
    assert not kfp_timings.is_executor("wf(0).root(0).trainer-driver(0)")
    assert not kfp_timings.is_executor("wf(0).root-driver(0)")
