"""One node of the compiled pipeline, launched in this process: the unit of work of every runner.

The local runner (pipelines.runners.local) calls `launch` for each node in topological order; on
Kubeflow every task runs `openct step`, which calls `launch_step` for one node of the IR written
by `openct compile-ir`:

    openct compile-ir --out build/ir.json [config flags]      the TFX IR, run id left open
    openct step --ir build/ir.json --node Trainer --run-id R  [--metadata grpc://H:P | sqlite:///F]
                [--view page.html]

(on Kubeflow without `--out`/`--ir`: the IR goes to `run_ir_path`, see there).

Every node of one pipeline run gets the same run id (on Kubeflow, the run's job id), so all nodes
share one pipeline-run context in ML Metadata; resolvers, TFX caching and lineage behave alike in
both runners because the node is launched by the same code: TFX's portable launcher, as
`tfx.orchestration.LocalDagRunner.run_with_ir` does (tfx/orchestration/local/local_dag_runner.py).
The ML Metadata connection compiled into the IR (SQLite) can be replaced by a gRPC one (the
in-cluster metadata service of Kubeflow Pipelines).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import compiler, constants
from tfx.dsl.io import fileio
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local import runner_utils
from tfx.orchestration.portable import launcher, runtime_parameter_utils
from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

from pipelines import lineage, process
from pipelines.names import NodeStatus
from pipelines.runners import beam_local, beam_memo

Execution = metadata_store_pb2.Execution


@dataclasses.dataclass
class NodeResult:
    node_id: str
    status: NodeStatus
    seconds: float
    execution_id: int | None = None
    outputs: dict[str, list[metadata_store_pb2.Artifact]] = dataclasses.field(default_factory=dict)
    error: BaseException | None = None


# --- the IR --------------------------------------------------------------------------------


def compile_ir(pipeline: tfx_pipeline.Pipeline, run_id: str | None = None) -> pipeline_pb2.Pipeline:
    """The pipeline's IR; with `run_id`, substituted as LocalDagRunner does, else left open (a
    runtime parameter each `openct step` fills in)."""
    ir = compiler.Compiler().compile(pipeline)
    if run_id is not None:
        set_run_id(ir, run_id)
    return ir


def set_run_id(ir: pipeline_pb2.Pipeline, run_id: str) -> None:
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})


def write_ir(ir: pipeline_pb2.Pipeline, path: str | Path, once: bool = False) -> None:
    """Writes the IR (JSON) whole or not at all (a temporary file, then a rename), locally or on
    any filesystem TFX's fileio knows (gs://...). With `once` (a run's IR, which all its tasks
    must read the same), an IR already there with other content is refused, not replaced."""
    path, text = str(path), json_format.MessageToJson(ir, sort_keys=True)
    if once and fileio.exists(path):
        with fileio.open(path, "r") as f:
            if f.read() == text:
                return
        raise FileExistsError(f"{path}: an IR with other content is there already; not overwritten")
    fileio.makedirs(os.path.dirname(path) or ".")
    partial = f"{path}.partial"
    with fileio.open(partial, "w") as f:
        f.write(text)
    fileio.rename(partial, path, overwrite=True)


def read_ir(path: str | Path) -> pipeline_pb2.Pipeline:
    ir = pipeline_pb2.Pipeline()
    with fileio.open(str(path), "r") as f:
        json_format.Parse(f.read(), ir)
    return ir


def run_ir_path(pipeline_root: str, run_id: str) -> str:
    """Where a Kubeflow run's IR is, for every task of the run: <pipeline_root>/runs/<run id>/
    pipeline_ir.json. Each task knows both from its parameters, so the IR needs no KFP artifact
    passed from the compile task to every node task; the KFP UI draws an artifact input as an
    edge, and an edge from one IR to all eleven tasks hid the TFX DAG in the run's graph."""
    return f"{pipeline_root.rstrip('/')}/runs/{run_id}/pipeline_ir.json"


def nodes(ir: pipeline_pb2.Pipeline) -> list[pipeline_pb2.PipelineNode]:
    """The IR's nodes in topological order (the compiler's order)."""
    return [n.pipeline_node for n in ir.nodes]


# --- ML Metadata connection ----------------------------------------------------------------


def connection_config(ir: pipeline_pb2.Pipeline) -> Any:
    """The connection compiled into the IR (the pipeline's SQLite file)."""
    mlmd = runner_utils.extract_local_deployment_config(ir).metadata_connection_config
    return getattr(mlmd, mlmd.WhichOneof("connection_config"))


def mlmd_connection(ir: pipeline_pb2.Pipeline, uri: str | None) -> Any:
    """The store of a step: `grpc://HOST:PORT` (Kubeflow's in-cluster metadata service),
    `sqlite:///PATH` or a plain path (a SQLite file), or None for the connection in the IR."""
    if not uri:
        return connection_config(ir)
    if uri.startswith("grpc://") and not re.fullmatch(r"grpc://[^:/]+:\d+", uri):
        raise ValueError(f"metadata {uri!r}: expected grpc://HOST:PORT")
    return lineage.connection(uri)


# --- launching -----------------------------------------------------------------------------


@contextlib.contextmanager
def argv_for_tfx() -> Iterator[None]:
    """TFX's Beam executors parse `sys.argv + beam_args` as absl flags (base_beam_executor.py,
    TODO b/174174381), so the host program's own arguments (pytest's `-v`, our `--verbose`) would
    be read as absl's --verbosity. Nodes see only the program name."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def launch(ir: pipeline_pb2.Pipeline, node: pipeline_pb2.PipelineNode, mlmd_config: Any) -> NodeResult:
    """Launches one node with TFX's portable launcher; its errors propagate (the caller names the
    node). Returns how it ended and its outputs as recorded in ML Metadata."""
    process.resume_collection()  # start-up is over (pipelines.process)
    beam_memo.install()
    beam_local.install()
    deployment = runner_utils.extract_local_deployment_config(ir)
    node_id = node.node_info.id
    started = time.monotonic()
    with argv_for_tfx(), metadata.Metadata(mlmd_config) as mlmd_handle:
        info = launcher.Launcher(
            pipeline_node=node,
            mlmd_connection=mlmd_handle,
            pipeline_info=ir.pipeline_info,
            pipeline_runtime_spec=ir.runtime_spec,
            executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
            custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
            custom_executor_operators={executable_spec_pb2.BeamExecutableSpec: beam_local.DirectOperator},
        ).launch()
        seconds = time.monotonic() - started
        if info is None or info.execution_id is None:
            return NodeResult(node_id, NodeStatus.SKIPPED, seconds)
        execution = mlmd_handle.store.get_executions_by_id([info.execution_id])[0]
        outputs = lineage.node_outputs(mlmd_handle.store, info.execution_id)
    if execution.last_known_state == Execution.CACHED:
        status = NodeStatus.CACHED
    elif node.node_info.type.name.endswith(".Resolver"):  # system node: selects, runs nothing
        status = NodeStatus.RESOLVED
    else:
        status = NodeStatus.RAN
    return NodeResult(node_id, status, seconds, info.execution_id, outputs)


def launch_step(ir: pipeline_pb2.Pipeline, node_id: str, run_id: str, mlmd_config: Any) -> NodeResult:
    """`openct step`: one node of an IR whose run id is still open."""
    set_run_id(ir, run_id)
    by_id = {n.node_info.id: n for n in nodes(ir)}
    if node_id not in by_id:
        raise LookupError(f"no node {node_id!r} in the IR (nodes: {', '.join(by_id)})")
    return launch(ir, by_id[node_id], mlmd_config)


def new_run_id() -> str:
    return dt.datetime.now().isoformat()
