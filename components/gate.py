"""The data validation gate: stop the run when ExampleValidator found anomalies or a data check failed.

TFX's ExampleValidator only *records* anomalies; Transform and Trainer run anyway. This component
reads the anomalies of every split and the span-vs-history checks of DataChecks
(components.data_checks), and fails its execution, listing each one, so that nothing
downstream (Transform, Trainer, Evaluator, Pusher) runs on bad data. When the data is clean it
emits a `ValidatedSpan` record naming the Examples artifact it vouches for; the span-window
resolver (components.window) trains only on spans that have such a record.
"""

# No `from __future__ import annotations` here: @component reads the real annotations.
import dataclasses
import json
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts

from components.artifacts import span_of
from components.checks import Check
from components.data_checks import PROFILE, DataCheckResults, ValidatedSpan, read_results

ANOMALIES_FILE = "SchemaDiff.pb"
CHECKS_SPLIT = "span"  # data checks judge the whole span (every split)
__all__ = ["ValidatedSpan", "ValidationGate", "DataValidationError", "Anomaly", "list_anomalies"]


@dataclasses.dataclass(frozen=True)
class Anomaly:
    split: str
    feature: str
    kind: str
    description: str

    def __str__(self) -> str:
        return f"split '{self.split}': feature '{self.feature}': {self.kind}: {self.description}"


class DataValidationError(RuntimeError):
    """The gate's failure: the message lists every anomaly."""

    def __init__(self, span: "int | None", anomalies: "list[Anomaly]", where: str):
        self.span, self.anomalies = span, anomalies
        lines = "\n".join(f"  - {a}" for a in anomalies)
        super().__init__(
            f"data validation gate: span {span} has {len(anomalies)} anomal"
            f"{'y' if len(anomalies) == 1 else 'ies'} (from {where}); "
            f"Transform, Trainer and Pusher did not run:\n{lines}"
        )


def find_validation_error(exc: "BaseException | None") -> "DataValidationError | None":
    """The gate's error inside an exception chain (TFX's launcher wraps executor errors), if that
    is why a run stopped."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DataValidationError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def list_anomalies(by_split: dict[str, anomalies_pb2.Anomalies]) -> list[Anomaly]:
    """Every anomaly of every split, in a stable order: the gate's whole decision logic."""
    found: list[Anomaly] = []
    for split in sorted(by_split):
        result = by_split[split]
        if result.data_missing:
            # TFDV skips every check of a split without rows and sets only `data_missing`
            # (data-validation v1.21.0, feature_statistics_validator.cc:128-130): without this, a
            # span with a header and no rows would pass and enter the training window.
            found.append(Anomaly(split, "(dataset)", "NO_ROWS", "0 examples; a span needs at least 1"))
        for feature in sorted(result.anomaly_info):
            info = result.anomaly_info[feature]
            kinds = [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason] or ["UNKNOWN"]
            description = info.description or info.short_description
            found.append(Anomaly(split, feature, ",".join(kinds), description))
        if result.HasField("dataset_anomaly_info"):
            info = result.dataset_anomaly_info
            found.append(
                Anomaly(
                    split,
                    "(dataset)",
                    ",".join(anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason) or "UNKNOWN",
                    info.description or info.short_description,
                )
            )
        for drift in result.drift_skew_info:
            for measure in drift.drift_measurements:
                if measure.value > measure.threshold:
                    found.append(
                        Anomaly(
                            split,
                            ".".join(drift.path.step),
                            "DRIFT",
                            f"{measure.value:.3f} > threshold {measure.threshold}",
                        )
                    )
    return found


def check_anomalies(results: dict) -> list[Anomaly]:
    """The failed span-vs-history checks (components.data_checks) that block (not warnings, not
    accepted) as anomalies: the class is the kind, the description has the measured value and
    the threshold."""
    return [
        Anomaly(CHECKS_SPLIT, c.feature, c.cls.upper(), c.describe())
        for c in map(Check.from_dict, results.get("checks", []))
        if c.blocks
    ]


def read_anomalies(uri: str, split_names: list[str]) -> dict[str, anomalies_pb2.Anomalies]:
    by_split = {}
    for split in split_names:
        path = os.path.join(uri, f"Split-{split}", ANOMALIES_FILE)
        result = anomalies_pb2.Anomalies()
        with fileio.open(path, "rb") as f:
            result.ParseFromString(f.read())
        by_split[split] = result
    return by_split


@component
def ValidationGate(  # noqa: N802 - TFX components are classes by convention
    examples: InputArtifact[standard_artifacts.Examples],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    validated: OutputArtifact[ValidatedSpan],
    checks: InputArtifact[DataCheckResults] = None,
) -> None:
    """Fails on any anomaly or failed data check; otherwise records that `examples` passed
    validation, with the span's profile (the history of the spans after it)."""
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    found = list_anomalies(read_anomalies(anomalies.uri, splits))
    results = read_results(checks.uri) if checks is not None else {}
    found += check_anomalies(results)
    span = span_of(examples)
    if found:
        where = anomalies.uri + (f" and {checks.uri}" if checks is not None else "")
        raise DataValidationError(span, found, where)
    validated.set_int_custom_property("examples_id", examples.id)
    validated.set_int_custom_property("span", span)
    if results:
        validated.set_string_custom_property(PROFILE, json.dumps(results["profile"], separators=(",", ":")))
    print(f"    gate: span {span} passed validation ({', '.join(splits)})", flush=True)
