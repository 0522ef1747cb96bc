"""Where a KFP run's time goes: each task's driver pod, its executor pod's start-up, and the TFX
node's own work, read from what Kubernetes and the task logs recorded (`openct kfp timings`).

KFP 2.17.0 runs every task as two pods (backend/src/v2/compiler/argocompiler/container.go): a
driver pod (`<task>-driver(0)` in Argo's node name) that resolves inputs and records the execution
in ML Metadata, then an executor pod (`<task>(0).executor(0)`) whose init containers copy Argo's and KFP's
launchers before our `main` container starts. Pods carry the run id in the label `pipeline/runid`
and the task in the annotation `workflows.argoproj.io/node-name`. The node's own work is what
`openct step` reports for it (its progress lines: "ran 5.5 s"); everything else in a task's wall
time is orchestration overhead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import statistics
from typing import Any

NODE_NAME = "workflows.argoproj.io/node-name"
RUN_LABEL = "pipeline/runid"
# `openct step`'s progress line (pipelines.cli.console.progress): "[ 1/1] Trainer  ran  5.5 s -> ..."
WORK = re.compile(r"^\[\s*\d+/\d+\]\s+\S+\s+[a-z-]+\s+([\d.]+) s", re.M)
# Argo node names of a task's two pods: "<wf>(0).root(0).trainer-driver(0)", "<wf>(0).root(0).trainer(0).executor(0)"
ROLE = re.compile(r"\.([\w-]+?)(?:-(driver)|\(\d+\)\.(executor))\(\d+\)$")


@dataclasses.dataclass
class TaskTiming:
    task: str
    driver: float  # driver pod: created -> its main container finished
    handoff: float  # driver finished -> executor pod created (Argo's controller acting on the driver's result)
    startup: float  # executor pod: created -> main container started (scheduling, image, init containers)
    process: float  # main container: started -> finished (Python start-up, imports, the node's work)
    work: float | None  # the nodes' own time as `openct step` reports it (a resolver and its consumer: the sum)
    wall: float  # driver pod created -> executor's main finished

    @property
    def overhead(self) -> float:
        return self.wall - (self.work or 0.0)


def is_executor(node_name: str) -> bool:
    """Whether a pod with this Argo node name runs a task's own container (`main`)."""
    found = ROLE.search(node_name)
    return bool(found and found.group(3))


def _time(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _main(pod: dict[str, Any]) -> dict[str, Any]:
    for status in pod["status"].get("containerStatuses") or []:
        if status["name"] == "main":
            return status["state"].get("terminated") or {}
    return {}


def task_timings(pods: list[dict[str, Any]], logs: dict[str, str]) -> list[TaskTiming]:
    """Timings of every task that has a finished driver and executor pod, in start order.
    `pods` are Kubernetes Pod objects as JSON (camelCase keys); `logs` the executors' main logs by pod name."""
    roles: dict[str, dict[str, dict[str, Any]]] = {}
    for pod in pods:
        found = ROLE.search(pod["metadata"].get("annotations", {}).get(NODE_NAME, ""))
        if found and _main(pod).get("finishedAt"):
            roles.setdefault(found.group(1), {})[found.group(2) or found.group(3)] = pod
    timings: list[tuple[dt.datetime, TaskTiming]] = []
    for task, pair in roles.items():
        if set(pair) != {"driver", "executor"}:
            continue  # the root DAG's driver, or a task that has not finished
        driver, executor = pair["driver"], pair["executor"]
        d_created = _time(driver["metadata"]["creationTimestamp"])
        e_created = _time(executor["metadata"]["creationTimestamp"])
        main = _main(executor)
        started, finished = _time(main["startedAt"]), _time(main["finishedAt"])
        work = [float(seconds) for seconds in WORK.findall(logs.get(executor["metadata"]["name"], ""))]
        timings.append(
            (
                d_created,
                TaskTiming(
                    task=task,
                    driver=(_time(_main(driver)["finishedAt"]) - d_created).total_seconds(),
                    handoff=(e_created - _time(_main(driver)["finishedAt"])).total_seconds(),
                    startup=(started - e_created).total_seconds(),
                    process=(finished - started).total_seconds(),
                    work=sum(work) if work else None,
                    wall=(finished - d_created).total_seconds(),
                ),
            )
        )
    return [t for _, t in sorted(timings, key=lambda pair: pair[0])]


def summary(timings: list[TaskTiming]) -> dict[str, float]:
    """Medians over the tasks, and the sums of work and of wall time."""
    if not timings:
        return {}
    return {
        "tasks": len(timings),
        "median_overhead": statistics.median(t.overhead for t in timings),
        "median_driver": statistics.median(t.driver for t in timings),
        "median_handoff": statistics.median(t.handoff for t in timings),
        "median_startup": statistics.median(t.startup for t in timings),
        "median_process_minus_work": statistics.median(t.process - (t.work or 0.0) for t in timings),
        "work": sum(t.work or 0.0 for t in timings),
    }
