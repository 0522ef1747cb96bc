"""Beam's DirectRunner as every local figure was measured: in process, on the FnApiRunner, lean.

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

Neither applies to a remote runner (Dataflow, Flink, Spark): those are chosen with `beam_args`
and build their own descriptors. beam_local_test checks both against Beam's own behaviour on
real pipelines.

Measured and left out: leaving Beam's DoFn pickles uncompressed while a pipeline runs in process
(Beam compresses each with bz2 at level 9, internal/cloudpickle_pickler.py:146-172). With Prism
skipped, that saved 0.2-1.2 s of a 45-46 s full run (two runs each, alternating): too little for
another patch.
"""

from __future__ import annotations

from typing import Any

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
