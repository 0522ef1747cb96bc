"""openct: one TFX pipeline for continuous training, run locally and on Kubeflow Pipelines.

Packages in dependency order (lower never imports higher; `make lint` checks it with the
import contract in pyproject.toml, [tool.importlinter]):

    names       the vocabulary: node ids, run outcomes, node statuses
    data        dataset specs, time spans, candidate schemas
    config      the one typed configuration object (defaults < OPENCT_* env < CLI)
    models      Transform's preprocessing_fn and Trainer's run_fn
    pipeline    the TFX DAG and the Evaluator's configuration and results
    lineage     every question asked of ML Metadata (runs, models, spans, node outputs)
    serving     the served version on disk and TF Serving's REST API
    reports     the run summary and the per-node HTML views
    runners     one node launcher, the local DAG runner, the KFP compiler and client
    ct          continuous training: triggers, drift/skew/degradation checks, replay
    cli, bench  the `openct` command and the benchmark
"""
