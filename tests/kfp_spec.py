"""Reading a compiled KFP pipeline spec as the KFP backend does: tasks, order, placeholders.

Shared by the spec validation tests and the execution test (which runs each task's container
command as a local process, with placeholders substituted as KFP would).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pipelines.config import PipelineConfig
from pipelines.runners.kubeflow import KfpTarget, compile_kfp

SPEC = Path(__file__).resolve().parent.parent / "build" / "pipeline.yaml"
COMPILE_TASK = "compile-ir"


def compile_default(out: Path = SPEC) -> Path:
    """What `make compile` does (default configuration and target)."""
    compile_kfp(PipelineConfig(), KfpTarget(), out)
    return out


def load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(pipeline spec, platform spec) documents of a compiled file."""
    docs = list(yaml.safe_load_all(path.read_text()))
    return docs[0], (docs[1] if len(docs) > 1 else {})


def root_tasks(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return spec["root"]["dag"]["tasks"]


def container_of(spec: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    component = spec["components"][task["componentRef"]["name"]]
    return spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]


def node_of(spec: dict[str, Any], task: dict[str, Any]) -> str | None:
    """The TFX node a task runs (the value after --node), None for the compile task."""
    args = container_of(spec, task).get("args", [])
    return args[args.index("--node") + 1] if "--node" in args else None


def topological(tasks: dict[str, dict[str, Any]]) -> list[str]:
    order, done = [], set()
    while len(order) < len(tasks):
        ready = sorted(n for n, t in tasks.items() if n not in done and set(t.get("dependentTasks", [])) <= done)
        if not ready:
            raise ValueError(f"cycle among {sorted(set(tasks) - done)}")
        order += ready
        done.update(ready)
    return order


def kfp_text(value: Any) -> str:
    """A parameter value as the KFP launcher prints it into a command line."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def substitute(arg: str, *, job_id: str, parameters: dict[str, Any], inputs: dict[str, str],
               outputs: dict[str, str]) -> str:
    """Replaces the placeholders this spec uses; any other placeholder is an error."""
    out = re.sub(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}", lambda m: kfp_text(parameters[m.group(1)]), arg)
    out = re.sub(r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.path\}\}", lambda m: inputs[m.group(1)], out)
    out = re.sub(r"\{\{\$\.outputs\.artifacts\['([^']+)'\]\.path\}\}", lambda m: outputs[m.group(1)], out)
    out = out.replace("{{$.pipeline_job_uuid}}", job_id)
    if "{{$" in out:
        raise AssertionError(f"unsubstituted placeholder in {arg!r}")
    return out
