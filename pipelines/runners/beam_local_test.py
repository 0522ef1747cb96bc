"""beam_local against Beam's own behaviour, on real DirectRunner pipelines (side inputs, a
GroupByKey, a combiner and a Flatten: each a different kind of fused stage)."""

import os
import tempfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner
from apache_beam.runners.portability import prism_runner
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.testing.util import assert_that, equal_to
from tfx.dsl.components.base import base_beam_executor
from tfx.orchestration.portable import data_types
from tfx.proto.orchestration import executable_spec_pb2
from tfx.types import standard_artifacts

from pipelines.runners import beam_local


def run_pipeline() -> None:
    with beam.Pipeline(runner="DirectRunner") as p:
        words = p | "words" >> beam.Create(["a", "bb", "a", "ccc", "bb", "a"])
        lengths = p | "lengths" >> beam.Create([("a", 1), ("bb", 2), ("ccc", 3)])
        counts = words | beam.Map(lambda w: (w, 1)) | beam.CombinePerKey(sum)
        scaled = counts | "scale" >> beam.Map(
            lambda kv, size: (kv[0], kv[1] * size[kv[0]]), beam.pvalue.AsDict(lengths)
        )
        grouped = (scaled, lengths) | beam.Flatten() | beam.GroupByKey() | beam.MapTuple(lambda k, v: (k, sorted(v)))
        assert_that(grouped, equal_to([("a", [1, 3]), ("bb", [2, 4]), ("ccc", [3, 3])]))


@pytest.fixture
def prism_attempts(monkeypatch):
    """Records the DirectRunner's attempts to use Prism, failing each at once (no download)."""
    attempts = []

    def refuse(self, pipeline, options):
        attempts.append(pipeline)
        raise RuntimeError("Prism is not used in this test")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", refuse)
    return attempts


def test_beams_direct_runner_tries_prism_first(monkeypatch, prism_attempts):
    monkeypatch.setattr(SwitchingDirectRunner, "_is_interactive", False)  # Beam as installed
    run_pipeline()
    assert len(prism_attempts) == 1  # then fell back to running in process (the result is checked)


def test_lean_descriptors_are_beams_less_the_pcollections_a_stage_does_not_use(monkeypatch, prism_attempts):
    beams_own = beam_local.beam_builder()
    built = []

    def both(self):
        full, lean = beams_own(self), beam_local.lean_descriptor(self)
        built.append((full, lean, beam_local.stage_pcollections(self.stage)))
        return lean  # the pipeline runs on the lean ones

    monkeypatch.setattr(execution.BundleContextManager, "_build_process_bundle_descriptor", both)
    run_pipeline()  # assert_that fails the run if a stage computed anything else

    assert len(built) >= 4
    pruned = 0
    for full, lean, used in built:
        assert set(lean.pcollections) == used <= set(full.pcollections)
        pruned += len(full.pcollections) > len(used)
        for pid in used:
            assert lean.pcollections[pid] == full.pcollections[pid]
        full.ClearField("pcollections")
        lean.ClearField("pcollections")
        assert lean == full  # every other field (transforms, coders, ids, endpoints) as Beam's
    assert pruned == len(built)  # in this pipeline no stage uses every PCollection


def test_installed_once_skips_prism_and_keeps_beams_builder(monkeypatch, prism_attempts):
    original = beam_local.beam_builder()
    monkeypatch.setattr(beam_local, "_beam_builder", None)
    monkeypatch.setattr(execution.BundleContextManager, "_build_process_bundle_descriptor", original)
    monkeypatch.setattr(SwitchingDirectRunner, "_is_interactive", False)
    beam_local.install()
    beam_local.install()
    assert execution.BundleContextManager._build_process_bundle_descriptor is beam_local.lean_descriptor
    assert beam_local.beam_builder() is original
    run_pipeline()
    assert prism_attempts == []


# --- 3. worker processes where they pay ---------------------------------------------------------


class PidExecutor(base_beam_executor.BaseBeamExecutor):
    """A Beam executor as TFX's are (its pipeline from _make_beam_pipeline): each element leaves
    a file named by the pid of the process that ran the DoFn."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 - TFX's name
        out = exec_properties["out"]
        with self._make_beam_pipeline() as p:
            _ = p | beam.Create(range(8)) | beam.Map(lambda _, d=out: Path(d, str(os.getpid())).touch())


def _ran_in(tmp_path, size: int, beam_args: tuple[str, ...] = ()) -> set[int]:
    """The pids PidExecutor's pipeline ran in, launched by DirectOperator as TFX's launcher does,
    with one Examples input of `size` bytes."""
    examples = standard_artifacts.Examples()
    examples.uri = tempfile.mkdtemp(dir=tmp_path)
    (Path(examples.uri) / "Split-eval").mkdir(parents=True)
    (Path(examples.uri) / "Split-eval" / "data_tfrecord-00000-of-00001.gz").write_bytes(b"x" * size)
    out = Path(examples.uri) / "pids"
    out.mkdir()
    spec = executable_spec_pb2.BeamExecutableSpec()
    spec.python_executor_spec.class_path = f"{PidExecutor.__module__}.PidExecutor"
    for arg in beam_args:
        spec.beam_pipeline_args_placeholders.add().value.string_value = arg
    info = data_types.ExecutionInfo(
        input_dict={"examples": [examples]},
        output_dict={},
        exec_properties={"out": str(out)},
        tmp_dir=str(tmp_path),
        execution_output_uri=str(out.parent / "executor_output.pb"),
    )
    beam_local.DirectOperator(spec).run_executor(info)
    return {int(p.name) for p in out.iterdir()}


def test_the_evaluator_runs_on_worker_processes_only_on_a_large_input(tmp_path, monkeypatch, prism_attempts):
    """Beam's multi-process DirectRunner really runs the DoFns in other processes; a small input,
    little memory to spare, another executor or explicit Beam arguments keep TFX's in-process
    pipeline."""
    monkeypatch.setattr(beam_local, "MULTI_PROCESS_EXECUTORS", (f"{PidExecutor.__module__}.PidExecutor",))
    monkeypatch.setattr(beam_local, "workers", lambda: 2)
    monkeypatch.setattr(beam_local, "available_memory", lambda: beam_local.MULTI_PROCESS_MIN_MEMORY)
    here = {os.getpid()}
    assert _ran_in(tmp_path, beam_local.MULTI_PROCESS_MIN_BYTES - 1) == here
    # with a dependency option TFX does not package itself; the in-memory DirectRunner ignores it
    assert _ran_in(tmp_path, beam_local.MULTI_PROCESS_MIN_BYTES, ("--sdk_container_image=unused",)) == here
    pids = _ran_in(tmp_path, beam_local.MULTI_PROCESS_MIN_BYTES)
    assert pids and os.getpid() not in pids
    monkeypatch.setattr(beam_local, "available_memory", lambda: beam_local.MULTI_PROCESS_MIN_MEMORY - 1)
    assert _ran_in(tmp_path, beam_local.MULTI_PROCESS_MIN_BYTES) == here  # a pod's memory limit
    monkeypatch.setattr(beam_local, "available_memory", lambda: beam_local.MULTI_PROCESS_MIN_MEMORY)
    monkeypatch.setattr(beam_local, "MULTI_PROCESS_EXECUTORS", ())
    assert _ran_in(tmp_path, beam_local.MULTI_PROCESS_MIN_BYTES) == here


def test_available_memory_is_at_most_what_the_kernel_says_is_available():
    with open("/proc/meminfo") as f:
        free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    assert 0 < beam_local.available_memory() <= free * 1.05  # read twice, a moment apart
