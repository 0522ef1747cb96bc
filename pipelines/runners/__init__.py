"""How the one pipeline is executed.

launcher    one node, in this process (TFX's portable launcher): used by the local runner and,
            via `openct step`, by every Kubeflow task
local       the local DAG runner: nodes in topological order, progress and summary
kubeflow    compiles the pipeline into a KFP v2 spec whose tasks call the launcher
kfp_client  upload, submit, schedule and list runs on a KFP API server
"""
