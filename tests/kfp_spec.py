"""Reading a compiled KFP pipeline spec as the KFP backend does: tasks, order, placeholders.

Shared by the spec validation tests and the execution test (which runs each task's container
command as a local process). The substitution below mirrors KFP 2.17.0's driver and launcher,
function by function, with file and line; it is the stand-in's contract with the real backend.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import re
import uuid
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


def nodes_of(spec: dict[str, Any], task: dict[str, Any]) -> list[str]:
    """The TFX nodes a task runs, in order (the values after each --node); [] for the compile task."""
    args = container_of(spec, task).get("args", [])
    return [args[i + 1] for i, arg in enumerate(args) if arg == "--node"]


def node_of(spec: dict[str, Any], task: dict[str, Any]) -> str | None:
    """The TFX node a task is named after (its last --node), None for the compile task."""
    nodes = nodes_of(spec, task)
    return nodes[-1] if nodes else None


def topological(tasks: dict[str, dict[str, Any]]) -> list[str]:
    order, done = [], set()
    while len(order) < len(tasks):
        ready = sorted(n for n, t in tasks.items() if n not in done and set(t.get("dependentTasks", [])) <= done)
        if not ready:
            raise ValueError(f"cycle among {sorted(set(tasks) - done)}")
        order += ready
        done.update(ready)
    return order


# ---- What KFP 2.17.0's backend substitutes, and nothing more --------------------------------
# Line numbers are at tag 2.17.0 of kubeflow/pipelines. An offline stand-in must not be kinder
# than the backend: a placeholder the backend would leave as literal text fails here.

_INPUT_PARAM = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")  # driver/util.go:45


@dataclasses.dataclass(frozen=True)
class KfpRun:
    """What the backend knows about one run when it resolves a task."""

    run_id: str  # `{{$.pipeline_job_uuid}}`: the KFP run id (argocompiler/argo.go:510-513)
    display_name: str = "run"
    workflow_name: str = "openct-wf"


def driver_constant(value: Any, run: KfpRun, task_name: str) -> Any:
    """A task input's `runtimeValue.constant`, as the driver resolves it (driver/resolve.go:422-454):
    only a whole-string match of these placeholders is replaced; any other text passes as is."""
    if isinstance(value, str) and "{{$.workspace_path}}" in value:
        return value.replace("{{$.workspace_path}}", "/kfp-workspace")  # component/constants.go:32
    special = {
        "{{$.pipeline_job_name}}": run.display_name,
        "{{$.pipeline_job_resource_name}}": run.workflow_name,
        "{{$.pipeline_job_uuid}}": run.run_id,
        "{{$.pipeline_task_name}}": task_name,
    }
    return special.get(value, value) if isinstance(value, str) else value


def go_g(number: float) -> str:
    """Go's fmt `%g` of a float64: shortest digits, exponent form below 1e-4 or from 1e6 on."""
    sign, digits, exponent = decimal.Decimal(repr(float(number))).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exponent  # position of the decimal point in `text`
    if point - 1 < -4 or point - 1 >= 6:  # strconv/ftoa.go: eprec = 6 when shortest
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{point - 1:+03d}"
    if point <= 0:
        body = "0." + "0" * -point + text
    elif point >= len(text):
        body = text + "0" * (point - len(text))
    else:
        body = text[:point] + "." + text[point:]
    return ("-" if sign else "") + body


def driver_text(value: Any) -> str:
    """A parameter value as the driver prints it into command and args (driver/util.go:138-163)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value) == int(value) else go_g(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def driver_args(items: list[str], parameters: dict[str, Any]) -> list[str]:
    """resolveContainerArgs (driver/util.go:263-288): input parameters anywhere in command and args;
    an item that mentions `$.outputs` is left whole for the launcher; a missing parameter fails."""

    def one(match: re.Match) -> str:
        if match.group(1) not in parameters:
            raise AssertionError(f"parameter {match.group(1)!r} not found in executor input")
        return driver_text(parameters[match.group(1)])

    return [item if "$.outputs" in item else _INPUT_PARAM.sub(one, item) for item in items]


def launcher_args(items: list[str], placeholders: dict[str, str]) -> list[str]:
    """compileCmdAndArgs (component/launcher_v2.go:1051-1074): the first item (the command's
    program) gets only `{{$}}` replaced; the rest get the map of getPlaceholders (:1077-1173):
    input/output artifact `.path`/`.uri`, input parameters, output parameter files."""

    def compile_one(item: str) -> str:
        for key, value in placeholders.items():
            item = item.replace(key, value)
        return item

    return [items[0], *map(compile_one, items[1:])] if items else []


def artifact_uri(pipeline: str, run: KfpRun, task: str, name: str) -> str:
    """An output artifact's URI under the default pipeline root (driver/driver.go:775,786 with
    metadata/client.go:391-420): <root>/<pipeline>/<run id>/<task>/<uuid>/<name>."""
    return f"minio://mlpipeline/v2/artifacts/{pipeline}/{run.run_id}/{task}/{uuid.uuid4()}/{name}"


def local_path(uri: str, mount: Path) -> str:
    """The launcher's local path of a URI (launcher_v2.go:1239-1253: minio:// -> /minio/...),
    under `mount` instead of / so that the stand-in needs no root directory of its own."""
    assert uri.startswith("minio://"), uri
    return str(mount / "minio" / uri.removeprefix("minio://"))


def task_argv(
    spec: dict[str, Any], task: dict[str, Any], parameters: dict[str, Any], artifacts: dict[str, str]
) -> list[str]:
    """The argv a task's container runs: the driver's substitution, then the launcher's.
    `parameters` are the task's resolved input parameters; `artifacts` maps each
    `{{$.inputs|outputs.artifacts['x'].path|uri}}` placeholder to its value. Any placeholder left
    after both is one the backend would pass to the program as literal text: an error."""
    container = container_of(spec, task)
    items = driver_args([*container.get("command", []), *container.get("args", [])], parameters)
    placeholders = {
        **artifacts,
        **{f"{{{{$.inputs.parameters['{k}']}}}}": launcher_text(v) for k, v in parameters.items()},
    }
    argv = launcher_args(items, placeholders)
    left = [a for a in argv if "{{$" in a]
    if left:
        raise AssertionError(f"KFP 2.17.0 would pass these to the program unsubstituted: {left}")
    return argv


def launcher_text(value: Any) -> str:
    """A parameter value as the launcher prints it (launcher_v2.go:1143-1148), for placeholders
    the driver left (those inside an item that mentions `$.outputs`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):  # strconv.FormatFloat(v, 'f', -1, 64): shortest, no exponent
        return (
            str(int(value))
            if float(value) == int(value)
            else format(decimal.Decimal(repr(float(value))).normalize(), "f")
        )
    return str(value)
