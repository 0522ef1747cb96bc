"""beam_local against Beam's own behaviour, on real DirectRunner pipelines (side inputs, a
GroupByKey, a combiner and a Flatten: each a different kind of fused stage)."""

import apache_beam as beam
import pytest
from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner
from apache_beam.runners.portability import prism_runner
from apache_beam.runners.portability.fn_api_runner import execution
from apache_beam.testing.util import assert_that, equal_to

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
