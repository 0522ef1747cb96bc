"""The IR file of a Kubeflow run: where every task finds it, and written once."""

from __future__ import annotations

import pytest
from tfx.proto.orchestration import pipeline_pb2

from pipelines.runners.launcher import read_ir, run_ir_path, write_ir


def test_a_runs_ir_is_written_once_and_read_back(tmp_path):
    path = run_ir_path(str(tmp_path) + "/", "run-1")
    assert path == f"{tmp_path}/runs/run-1/pipeline_ir.json"
    first = pipeline_pb2.Pipeline()
    first.pipeline_info.id = "openct"
    write_ir(first, path, once=True)
    write_ir(first, path, once=True)  # a retried compile task with the same IR: fine
    assert read_ir(path) == first
    other = pipeline_pb2.Pipeline()
    other.pipeline_info.id = "something-else"
    with pytest.raises(FileExistsError, match="not overwritten"):
        write_ir(other, path, once=True)
    assert read_ir(path) == first and not list((tmp_path / "runs" / "run-1").glob("*.partial"))
    write_ir(other, tmp_path / "scratch.json")  # a local IR file (`compile-ir --out`) is replaced
    write_ir(first, tmp_path / "scratch.json")
    assert read_ir(tmp_path / "scratch.json") == first
