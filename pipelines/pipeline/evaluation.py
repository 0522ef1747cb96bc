"""Model evaluation: the TFMA configuration the Evaluator runs, and reading what it wrote.

Both halves live together so that the metric names the gate is configured with are the names the
summary, `openct ct status` and the benchmark read back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.config import PipelineConfig

if TYPE_CHECKING:
    import tensorflow_model_analysis as tfma

# TFMA is imported inside the functions: it takes seconds, and the summary, `openct ct status`
# and the trigger import this module for its metric names without evaluating anything.

SHOWN_METRICS = ("auc", "binary_accuracy", "calibration", "example_count")


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """TFMA: AUC, accuracy, calibration and counts, overall and per slice.

    The gates (absolute AUC and accuracy, AUC change against the baseline) apply to the overall
    slice only: per-hour slices are reported, but have too few examples to gate on.
    """
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.proto import config_pb2 as tfma_config

    spec = config.spec
    overall = [tfma.SlicingSpec()]
    auc_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.min_auc}),
        # Ignored when there is no baseline (first model).
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -config.max_auc_drop}
        ),
    )
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.min_accuracy})
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name="serving_default",
                label_key=spec.label.name,
                preprocessing_function_names=["transform_features"],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[k]) for k in spec.slice_by],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="AUC",
                        per_slice_thresholds=[
                            tfma_config.PerSliceMetricThreshold(slicing_specs=overall, threshold=auc_threshold)
                        ],
                    ),
                    tfma.MetricConfig(
                        class_name="BinaryAccuracy",
                        per_slice_thresholds=[
                            tfma_config.PerSliceMetricThreshold(slicing_specs=overall, threshold=accuracy_threshold)
                        ],
                    ),
                    tfma.MetricConfig(class_name="Calibration"),
                    tfma.MetricConfig(class_name="MeanLabel"),
                    tfma.MetricConfig(class_name="MeanPrediction"),
                ]
            )
        ],
    )


def read_evaluation(uri: str) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Overall-slice metrics per model ('candidate', 'baseline', diffs as '<name>_diff' under
    'candidate') and the validation failures, from the Evaluator's output."""
    import tensorflow_model_analysis as tfma

    metrics: dict[str, dict[str, float]] = {}
    for per_slice in tfma.load_metrics(uri):
        if per_slice.slice_key.single_slice_keys:
            continue
        for kv in per_slice.metric_keys_and_values:
            key, number = kv.key, metric_value(kv.value)
            if number is not None:
                name = key.name + ("_diff" if key.is_diff else "")
                metrics.setdefault(key.model_name or "candidate", {})[name] = number
    failures = []
    validation = tfma.load_validation_result(uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            key = failure.metric_key
            what = "change vs baseline" if key.is_diff else "value"
            failures.append(
                f"{key.name} {what} {failure.metric_value.double_value.value:+.4f} fails "
                f"{_threshold_text(failure.metric_threshold)}" + (f" ({failure.message})" if failure.message else "")
            )
    return metrics, failures


def metric_value(value) -> float | None:
    """A TFMA MetricValue as a number: a plain or a bounded (confidence interval) value."""
    if value.HasField("double_value"):
        return value.double_value.value
    if value.HasField("bounded_value"):
        return value.bounded_value.value.value
    return None


def _threshold_text(threshold) -> str:
    if threshold.HasField("value_threshold"):
        t = threshold.value_threshold
        parts = ([f">= {t.lower_bound.value}"] if t.HasField("lower_bound") else []) + (
            [f"<= {t.upper_bound.value}"] if t.HasField("upper_bound") else []
        )
        return "threshold " + " and ".join(parts)
    if threshold.HasField("change_threshold"):
        return f"allowed change {threshold.change_threshold.absolute.value:+}"
    return "threshold"
