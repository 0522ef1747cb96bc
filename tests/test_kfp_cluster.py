"""Against a real Kubeflow Pipelines (KFP_HOST): upload, run to the end, schedule, unschedule.

Needs a KFP 2.x whose cluster has the pipeline image and the openct volumes (see
docs/operations.md, "Kubeflow Pipelines on kind"), and spans under the data volume. Skipped when KFP_HOST is not set.
"""

from __future__ import annotations

import os
import uuid

import pytest

from pipelines import cli
from pipelines.runners import kfp_client
from tests import kfp_spec

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("KFP_HOST"),
        reason="needs a real Kubeflow Pipelines: set KFP_HOST (make kfp: http://localhost:8080 on kind)",
    ),
]


def test_upload_run_schedule_on_a_real_kfp(capsys):
    spec = kfp_spec.compile_default()
    assert cli.main(["kfp", "upload", "--spec", str(spec)]) == 0
    assert cli.main(["kfp", "upload", "--spec", str(spec)]) == 0
    assert "already there" in capsys.readouterr().out
    experiment = f"openct-test-{uuid.uuid4().hex[:6]}"
    timeout = os.environ.get("OPENCT_KFP_TIMEOUT", "5400")
    assert cli.main(["kfp", "submit", "--experiment", experiment, "--wait", "--timeout", timeout]) == 0, (
        capsys.readouterr()
    )
    name = f"openct-test-{uuid.uuid4().hex[:6]}"
    assert cli.main(["kfp", "schedule", "--experiment", experiment, "--name", name, "--cron", "0 0 3 * * *"]) == 0
    client = kfp_client.connect(kfp_client.host_from_env())
    experiment_id = client.create_experiment(name=experiment).experiment_id
    assert len(kfp_client.recurring_runs_named(client, experiment_id, name)) == 1
    assert cli.main(["kfp", "unschedule", "--experiment", experiment, "--name", name]) == 0
    assert kfp_client.recurring_runs_named(client, experiment_id, name) == []
