"""Beam's DirectRunner as every local figure was measured: no Prism, lean descriptors, workers where they pay.

With no Beam arguments (the default `beam_args`), each Beam-based TFX component runs its pipeline
on Beam's DirectRunner. `install()` changes two things about that runner, each measured both ways
on a full run from an empty store (16 spans, cache off unless said):

1. **No Prism.** Beam 2.77's DirectRunner first tries PrismRunner, a Go runner that Beam downloads
   from GitHub at run time. Only if that fails does it run the pipeline in process
   (runners/direct/direct_runner.py:203-230, prism_runner.py). On a machine with internet
   access, `make run` would therefore fetch an unpinned binary and run every TFX pipeline on
   another runner, out of process. Offline, as here, each pipeline pays for the failed attempt
   first: 34 attempts took 4.1 s of a 53 s run. Beam skips Prism when the runner is marked
   interactive (direct_runner.py:69-75, 208); that flag does nothing else in Beam 2.77 (grep
   `_is_interactive`). `install()` sets it on the class, so that the DirectRunner picks the
   FnApiRunner (or its bundle-based runner), as it does when Prism is unavailable.
2. **Lean bundle descriptors.** The FnApiRunner gives every fused stage a
   ProcessBundleDescriptor, and Beam puts *every* PCollection, coder, windowing strategy and
   environment of the whole pipeline into each one (fn_api_runner/execution.py:1058-1074). The
   runner keeps every descriptor until the pipeline ends (fn_api_runner/worker_handlers.py:
   884-887). The in-process worker copies each one into every bundle processor it creates and
   caches (runners/worker/sdk_worker.py:506-516). Memory thus grows with stages x PCollections.
   Transform with its analyzer cache analyses each span on its own, and its pipeline over 16
   spans has about a thousand stages. At that run's peak (3,480 MB), memray found 1,046 MB in
   the descriptors and 1,136 MB in the worker's copies. PCollections were 77% of the
   descriptors' serialized bytes. A bundle processor looks PCollections up only by the ids on
   its transforms' inputs and outputs (runners/worker/bundle_processor.py:1602-1608, 1639-1641,
   1960-1961; data_sampler.py:305-306). A descriptor with just those therefore runs the same
   bundle. Coders, windowing strategies and environments are kept whole: they are 2% of the
   bytes, and coder ids also sit inside transform payloads, where a filter could miss one.
   Measured: peak 3,483 -> 1,413 MB, Transform 33.7 -> 26.2 s (cache on). Dropping the entries
   after Beam has built the descriptor frees nothing, because protobuf messages keep their arena.

3. **Worker processes where they pay.** In process, the FnApiRunner runs every bundle on one
   Python thread; TFMA computes its metrics one example at a time in Python, so the Evaluator
   uses one of the machine's cores. `DirectOperator` gives the Evaluator Beam's multi-process
   mode (one worker per CPU this process may use, as TFX's stock taxi example asks with
   `--direct_num_workers=0`) when its input Examples hold at least MULTI_PROCESS_MIN_BYTES, the
   process has MULTI_PROCESS_MIN_MEMORY to spare, and no `beam_args` were given. It goes through
   TFX's own hook, the executor's `make_beam_pipeline_fn` (tfx 1.21
   orchestration/portable/beam_executor_operator.py:75-110, dsl/components/base/
   base_beam_executor.py:100-101), not through Beam arguments: those would make TFX package its
   whole install for every execution (config.py, `beam_args`). Measured on the Evaluator of
   one-new-span runs (candidate and baseline, overall and per-hour slices), in process -> on 2
   workers: 4,719 evaluation rows (0.7 MB of gzip records, all splits) 9.0 -> 14.0 s; 47,252 rows
   (6.8 MB) 43.5 -> 34.2 s; 101,857 rows (14.4 MB) 86.2 -> 54.8 s. Starting the workers costs
   about 9 s, and they save about 45% of the rest, so the threshold (MULTI_PROCESS_MIN_BYTES)
   sits where the Evaluator takes about 20 s in process.

Neither 1 nor 2 applies to a remote runner (Dataflow, Flink, Spark): those are chosen with
`beam_args` and build their own descriptors; 3 steps aside as soon as `beam_args` is set.
beam_local_test checks them against Beam's own behaviour on real pipelines.

Measured and left out: leaving Beam's DoFn pickles uncompressed while a pipeline runs in process
(Beam compresses each with bz2 at level 9, internal/cloudpickle_pickler.py:146-172). With Prism
skipped, that saved 0.2-1.2 s of a 45-46 s full run (two runs each, alternating): too little for
another patch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tfx.orchestration.portable import beam_executor_operator

_MARK = "_openct_lean"
_beam_builder: Any = None  # Beam's own descriptor builder, once install() has replaced it


def stage_pcollections(stage: Any) -> set[str]:
    """The ids of the PCollections a stage's transforms read or write (side inputs included:
    they are transform inputs too)."""
    return {pcoll for t in stage.transforms for pcoll in (*t.inputs.values(), *t.outputs.values())}


def lean_descriptor(self: Any) -> Any:
    """`BundleContextManager._build_process_bundle_descriptor` (execution.py:1058-1074) with only
    the stage's PCollections. Like Beam's, it may run only after the stage's data endpoints were
    extracted."""
    from apache_beam.portability.api import beam_fn_api_pb2

    components = self.execution_context.pipeline_components
    used = stage_pcollections(self.stage)
    return beam_fn_api_pb2.ProcessBundleDescriptor(
        id=self.bundle_uid,
        transforms={transform.unique_name: transform for transform in self.stage.transforms},
        pcollections={pid: components.pcollections[pid] for pid in used if pid in components.pcollections},
        coders=dict(components.coders.items()),
        windowing_strategies=dict(components.windowing_strategies.items()),
        environments=dict(components.environments.items()),
        state_api_service_descriptor=self.state_api_service_descriptor(),
        timer_api_service_descriptor=self.data_api_service_descriptor(),
    )


setattr(lean_descriptor, _MARK, True)


def install() -> None:
    """Both changes, once per process. The DirectRunner reads the flag from the instance, which
    falls back to the class (direct_runner.py:208); the descriptor property looks the builder up
    on the class (execution.py:1051-1056)."""
    global _beam_builder
    from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner
    from apache_beam.runners.portability.fn_api_runner import execution

    SwitchingDirectRunner._is_interactive = True
    manager = execution.BundleContextManager
    if not getattr(manager._build_process_bundle_descriptor, _MARK, False):
        _beam_builder = manager._build_process_bundle_descriptor
        manager._build_process_bundle_descriptor = lean_descriptor


def beam_builder() -> Any:
    """Beam's own descriptor builder, installed or not (what the tests compare with)."""
    from apache_beam.runners.portability.fn_api_runner import execution

    return _beam_builder or execution.BundleContextManager._build_process_bundle_descriptor


# --- 3. worker processes where they pay ----------------------------------------------------------

MULTI_PROCESS_EXECUTORS = ("tfx.components.evaluator.executor.Executor",)  # measured (module doc)
# The input Examples' files, every split (the Evaluator reads the eval split, a third): ~20,000
# evaluation rows of the taxi data, where the Evaluator takes ~20 s in process (module doc).
MULTI_PROCESS_MIN_BYTES = 3_000_000
# Each worker holds its own TensorFlow, TFMA and both models: a one-new-span run's peak (the
# process tree) at 1.5 million rows was 3.6 GB with 2 workers against 1.6 GB in process. Less room than
# this (a pod's memory limit, a small machine) stays in process.
MULTI_PROCESS_MIN_MEMORY = 6 * 2**30


def examples_bytes(inputs: Mapping[str, Sequence[Any]]) -> int:
    """Bytes of the files of every input Examples artifact (its Split-* directories)."""
    from tfx.dsl.io import fileio

    total = 0
    for artifacts in inputs.values():
        for artifact in artifacts:
            if artifact.type_name != "Examples":
                continue
            for path in fileio.glob(os.path.join(artifact.uri, "Split-*", "*")):
                total += fileio.stat(path).length
    return total


def available_memory() -> int:
    """Bytes this process may still take: MemAvailable, or less under a cgroup v2 memory limit
    (a container's: memory.max less memory.current)."""
    with open("/proc/meminfo") as f:
        free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return free
    return free if limit == "max" else min(free, int(limit) - used)


def workers() -> int:
    """The CPUs this process may run on (a container's cpuset included)."""
    return len(os.sched_getaffinity(0))


def multi_process_pipeline(num_workers: int) -> Any:
    """What TFX's executor would build with no Beam arguments, on `num_workers` worker processes."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    return beam.Pipeline(
        options=PipelineOptions(direct_running_mode="multi_processing", direct_num_workers=num_workers)
    )


class DirectOperator(beam_executor_operator.BeamExecutorOperator):
    """TFX's operator of Beam executors, which runs the MULTI_PROCESS_EXECUTORS on worker processes
    when their input is large (module doc, 3). The launcher passes it to TFX's Launcher as the
    operator of BeamExecutableSpec (tfx 1.21 orchestration/portable/launcher.py:152-153, 188-190)."""

    def run_executor(self, execution_info: Any, make_beam_pipeline_fn: Callable[[], Any] | None = None) -> Any:
        class_path = self._executor_spec.python_executor_spec.class_path
        if make_beam_pipeline_fn is None and not self.beam_pipeline_args and class_path in MULTI_PROCESS_EXECUTORS:
            size, count = examples_bytes(execution_info.input_dict), workers()
            if size >= MULTI_PROCESS_MIN_BYTES and count > 1 and available_memory() >= MULTI_PROCESS_MIN_MEMORY:
                print(f"    beam: {count} worker processes ({size / 1e6:.1f} MB of input Examples)", flush=True)
                return super().run_executor(execution_info, lambda: multi_process_pipeline(count))
        return super().run_executor(execution_info, make_beam_pipeline_fn)
