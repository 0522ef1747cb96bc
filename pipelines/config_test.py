import argparse

import pytest

from pipelines.config import PipelineConfig


def test_defaults_live_under_build():
    cfg = PipelineConfig()
    assert cfg.data_root.endswith("build/data")
    assert cfg.metadata.endswith("build/pipeline/metadata.sqlite")
    assert cfg.model_serving_dir.endswith("build/serving/taxi")


def test_env_then_cli_precedence():
    parser = argparse.ArgumentParser()
    PipelineConfig.add_arguments(parser)
    env = {"OPENCT_DATA_ROOT": "/env/data", "OPENCT_WINDOW_SPANS": "3", "OPENCT_WARM_START": "false"}
    cfg = PipelineConfig.from_args(parser.parse_args(["--window-spans", "5"]), environ=env)
    assert cfg.data_root == "/env/data"  # from the environment
    assert cfg.window_spans == 5  # the command line wins
    assert cfg.warm_start is False
    cfg = PipelineConfig.from_args(parser.parse_args(["--warm-start"]), environ=env)
    assert cfg.warm_start is True


@pytest.mark.parametrize(
    "env, message",
    [
        ({"OPENCT_WINDOW_SPANS": "many"}, "OPENCT_WINDOW_SPANS='many' is not a valid int"),
        ({"OPENCT_WARM_START": "maybe"}, "OPENCT_WARM_START='maybe' is not a valid bool"),
        ({"OPENCT_WINDOW_SPANS": "0"}, "window_spans must be >= 1 and span_months >= 0"),
        ({"OPENCT_SPAN_MONTHS": "-1"}, "window_spans must be >= 1 and span_months >= 0"),  # 0: as recorded
        ({"OPENCT_HIDDEN_UNITS": "8,x"}, "hidden_units must be comma-separated integers"),
    ],
)
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig.from_env(env)


def test_training_config_is_json_and_carries_the_dataset():
    import json

    cfg = PipelineConfig(hidden_units="16,8")
    blob = json.loads(json.dumps(cfg.training_config()))
    assert blob["hidden_units"] == [16, 8]
    assert blob["dataset"]["label"]["name"] == "big_tipper"
    assert cfg.fingerprint() != PipelineConfig(hidden_units="16").fingerprint()


def test_default_beam_args_make_tfx_package_nothing(monkeypatch):
    """TFX's Beam executors repackage the whole tfx install (52 MB left in /tmp, 2.5 s) whenever
    beam args are non-empty and name no dependency option (tfx 1.21,
    dsl/components/base/base_beam_executor.py:82-84); the DirectRunner needs none of it."""
    import shlex

    from tfx.dsl.components.base import base_beam_executor
    from tfx.utils import dependency_utils

    def packaged():
        raise AssertionError("TFX built an ephemeral package of itself")

    class Executor(base_beam_executor.BaseBeamExecutor):  # as StatisticsGen's, Transform's...
        def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 - TFX's name
            pass

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", packaged)
    args = shlex.split(PipelineConfig().beam_args)
    Executor(Executor.Context(beam_pipeline_args=args))  # must not package
    with pytest.raises(AssertionError, match="ephemeral"):  # what the old default did
        Executor(Executor.Context(beam_pipeline_args=["--direct_num_workers=1"]))
