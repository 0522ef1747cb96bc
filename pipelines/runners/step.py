"""One node of the compiled pipeline, in its own process: the unit of work of an orchestrator.

    openct compile-ir --out build/ir.json [config flags]      the TFX IR, run id left open
    openct step --ir build/ir.json --node Trainer --run-id R  [--metadata grpc://H:P | sqlite:///F]
                [--view page.html]

Every task of one pipeline run passes the same run id (on Kubeflow, the run's job id), so all
nodes share one pipeline-run context in ML Metadata; resolvers, TFX caching and lineage then
behave as with the local runner, because the node is launched by the same code (`run_node`,
TFX's portable launcher). The ML Metadata connection compiled into the IR (SQLite) can be
replaced by a gRPC one (the in-cluster metadata service of Kubeflow Pipelines).
"""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf import json_format
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from pipelines import lineage
from pipelines.runners.local import NodeResult, argv_for_tfx, connection_config, run_node


def compile_ir(pipeline) -> pipeline_pb2.Pipeline:
    """The pipeline's IR with the run id still a runtime parameter (substituted per run)."""
    return compiler.Compiler().compile(pipeline)


def write_ir(ir: pipeline_pb2.Pipeline, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json_format.MessageToJson(ir, sort_keys=True))


def read_ir(path: str | Path) -> pipeline_pb2.Pipeline:
    ir = pipeline_pb2.Pipeline()
    json_format.Parse(Path(path).read_text(), ir)
    return ir


def mlmd_connection(ir: pipeline_pb2.Pipeline, uri: str | None):
    """The store of a step: `grpc://HOST:PORT` (Kubeflow's in-cluster metadata service),
    `sqlite:///PATH` or a plain path (a SQLite file), or None for the connection in the IR."""
    if not uri:
        return connection_config(ir)
    if uri.startswith("grpc://") and not re.fullmatch(r"grpc://[^:/]+:\d+", uri):
        raise ValueError(f"metadata {uri!r}: expected grpc://HOST:PORT")
    return lineage.connection(uri)


def run_step(ir: pipeline_pb2.Pipeline, node_id: str, run_id: str, mlmd_config) -> NodeResult:
    runtime_parameter_utils.substitute_runtime_parameter(ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
    if node_id not in nodes:
        raise SystemExit(f"error: no node {node_id!r} in the IR (nodes: {', '.join(nodes)})")
    with argv_for_tfx():
        return run_node(ir, nodes[node_id], mlmd_config)

