"""Feature definitions: the one place that says what the data looks like.

A dataset is configuration, not code: the CSV, the time column used to cut spans, the label and
the kind of every feature column. Preprocessing, the model, the evaluation slices and the serving
signature all read this object (it travels to Transform and Trainer as `custom_config`), so a new
CSV needs a new `DatasetSpec` (built-in or a JSON file) and a curated schema, not new wiring.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
from pathlib import Path
from typing import Any

from components.checks import Thresholds

# Where the datasets' curated schemas live (reviewed files, see docs/operations.md, "Curated schema").
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
TFX_PACKAGE_PREFIX = "tfx-package:"


@dataclasses.dataclass(frozen=True)
class LabelSpec:
    """A binary label derived from raw columns.

    label = column == positive                   (a categorical class, e.g. weather == "rain")
    label = column > threshold                   (relative_to is None)
    label = column > threshold * relative_to     (e.g. tips > 0.2 * fare, the "big tipper")
    A missing value in `column` or `relative_to` gives label 0, as in the TFX taxi example.
    """

    column: str
    threshold: float | None = None
    relative_to: str | None = None
    name: str = "label"  # name of the label after Transform (what TFMA and Keras see)
    positive: str | None = None  # the positive class of a categorical label column

    def __post_init__(self) -> None:
        if (self.threshold is None) == (self.positive is None):
            raise ValueError(f"label {self.name!r}: give either 'threshold' (numeric) or 'positive' (a class)")
        if self.positive is not None and self.relative_to:
            raise ValueError(f"label {self.name!r}: 'relative_to' applies to a threshold, not to 'positive'")

    def of(self, row: dict[str, str]) -> int:
        """The label of one CSV row, exactly as the preprocessing derives it (0 when missing)."""
        value = row.get(self.column, "")
        if self.positive is not None:
            return int(value != "" and value == self.positive)
        try:
            number = float(value)
            if self.relative_to is None:
                return int(number > float(self.threshold or 0.0))
            base = row.get(self.relative_to, "")
            return int(base != "" and number > float(self.threshold or 0.0) * float(base))
        except ValueError:
            return 0

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """Columns needed to compute the label, i.e. absent at serving if not also features."""
        return (self.column,) + ((self.relative_to,) if self.relative_to else ())


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Everything the pipeline needs to know about one dataset."""

    name: str
    source: str  # CSV path, or "tfx-package:<path inside the installed tfx package>"
    timestamp_column: str  # spans are cut on it
    label: LabelSpec
    numeric: tuple[str, ...] = ()  # float -> z-score
    bucketized: tuple[str, ...] = ()  # float -> quantile buckets
    categorical: dict[str, int] = dataclasses.field(default_factory=dict)  # name -> top_k vocab
    # name -> N: integer codes 0..N-1 (hour, weekday, zone id) one-hot encoded as they are, with no
    # vocabulary to compute (a tf.Transform vocabulary is the costliest analyzer: the taxi's five
    # codes as vocabularies made Transform 16-17 s of a one-new-span run, as codes 11 s; `make
    # bench`); any other value (a new zone id) goes to the OOV buckets, and a missing value reads
    # as 0, i.e. code 0. TFX's own taxi example encodes these columns the same way (identity columns).
    codes: dict[str, int] = dataclasses.field(default_factory=dict)
    bucket_count: int = 10
    oov_buckets: int = 5
    slice_by: tuple[str, ...] = ()  # evaluation slices, besides the overall one
    schema_file: str = ""  # curated schema; relative paths are under pipelines/schema/
    time_format: str = ""  # timestamp_column: "" Unix seconds; else strptime format ("%Y/%m/%d") or "iso"
    timezone: str = "UTC"  # dates without an offset are read here; spans' months begin here
    # How far a new span may be from the validated spans before it (the gate's data checks)
    checks: Thresholds = dataclasses.field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        features = self.feature_columns
        dupes = {c for c in features if features.count(c) > 1}
        if dupes:
            raise ValueError(f"dataset {self.name!r}: columns listed under two kinds: {sorted(dupes)}")
        if not features:
            raise ValueError(f"dataset {self.name!r}: no feature columns")
        if self.label.column in features:
            raise ValueError(f"dataset {self.name!r}: label column {self.label.column!r} is also a feature")
        if self.label.name in features:
            raise ValueError(f"dataset {self.name!r}: label name {self.label.name!r} clashes with a feature")
        bad_codes = sorted(k for k, n in self.codes.items() if not isinstance(n, int) or n < 1)
        if bad_codes:
            raise ValueError(f"dataset {self.name!r}: codes need a positive count of codes: {bad_codes}")
        if self.codes and self.oov_buckets < 1:
            raise ValueError(f"dataset {self.name!r}: with codes, oov_buckets must be >= 1 (other values go there)")
        unknown = set(self.slice_by) - set(features)
        if unknown:
            raise ValueError(f"dataset {self.name!r}: slice_by names unknown features {sorted(unknown)}")

    @property
    def feature_columns(self) -> list[str]:
        return [*self.numeric, *self.bucketized, *self.categorical, *self.codes]

    @property
    def serving_excluded(self) -> list[str]:
        """Raw columns that requests do not carry: the label's inputs that are not features."""
        return [c for c in self.label.raw_columns if c not in self.feature_columns]

    @property
    def scale_columns(self) -> list[str]:
        """Numeric columns whose scale the data checks watch: the float features and a numeric
        label input (their deciles move by a factor when a unit changes)."""
        numeric_label = [self.label.column] if self.label.positive is None else []
        cols = [*self.numeric, *self.bucketized, *numeric_label]
        if self.label.relative_to:
            cols.append(self.label.relative_to)
        return list(dict.fromkeys(cols))

    @property
    def raw_columns(self) -> list[str]:
        """Every column the pipeline reads (features, label inputs, time)."""
        cols = [*self.feature_columns, *self.label.raw_columns, self.timestamp_column]
        return list(dict.fromkeys(cols))

    def source_path(self) -> Path:
        """The CSV file; `tfx-package:` sources are read from the installed tfx package."""
        if self.source.startswith(TFX_PACKAGE_PREFIX):
            rel = self.source[len(TFX_PACKAGE_PREFIX) :]
            return Path(str(importlib.resources.files("tfx").joinpath(rel)))
        return Path(self.source)

    def schema_path(self) -> Path:
        path = Path(self.schema_file or f"{self.name}.pbtxt")
        return path if path.is_absolute() else SCHEMA_DIR / path

    def load_schema(self):
        """The curated schema as a tensorflow_metadata Schema proto."""
        from google.protobuf import text_format
        from tensorflow_metadata.proto.v0 import schema_pb2

        return text_format.Parse(self.schema_path().read_text(), schema_pb2.Schema())

    # --- serialisation: the spec travels to Transform/Trainer as custom_config JSON ---------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        data = dict(data)
        label = LabelSpec(**data.pop("label"))
        data["checks"] = Thresholds.from_dict(data.get("checks") or {})
        for key in ("numeric", "bucketized", "slice_by"):
            data[key] = tuple(data.get(key, ()))
        return cls(label=label, **data)

    @classmethod
    def from_json_file(cls, path: str | Path) -> DatasetSpec:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            spec = cls.from_dict(data)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: not a valid dataset spec: {exc}") from exc
        if not spec.schema_file:
            raise ValueError(f"{path}: dataset spec needs 'schema_file'")
        if not Path(spec.schema_file).is_absolute():  # relative to the JSON file
            spec = dataclasses.replace(spec, schema_file=str(path.parent / spec.schema_file))
        if not Path(spec.source).is_absolute() and not spec.source.startswith(TFX_PACKAGE_PREFIX):
            spec = dataclasses.replace(spec, source=str(path.parent / spec.source))
        return spec


# The Chicago taxi sample shipped in the tfx package (15,002 rows, 2013-01 .. 2016-12), with
# the feature kinds of TFX's own taxi example and its "big tipper" label (tips > 20% of fare).
CHICAGO_TAXI = DatasetSpec(
    name="taxi",
    source=TFX_PACKAGE_PREFIX + "examples/chicago_taxi_pipeline/data/simple/data.csv",
    timestamp_column="trip_start_timestamp",
    label=LabelSpec(column="tips", threshold=0.2, relative_to="fare", name="big_tipper"),
    numeric=("trip_miles", "fare", "trip_seconds"),
    bucketized=("pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"),
    categorical={"payment_type": 10, "company": 100},
    # hour 0-23, weekday 1-7, month 1-12, Chicago's 77 community areas numbered 1-77
    codes={
        "trip_start_hour": 24,
        "trip_start_day": 8,
        "trip_start_month": 13,
        "pickup_community_area": 78,
        "dropoff_community_area": 78,
    },
    slice_by=("trip_start_hour",),
    schema_file="taxi.pbtxt",
)

BUILTIN = {CHICAGO_TAXI.name: CHICAGO_TAXI}


def load_dataset(name_or_path: str) -> DatasetSpec:
    """A built-in dataset by name, or a dataset spec JSON file."""
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".json":
        if not path.is_file():
            raise ValueError(f"{path}: dataset spec file not found")
        return DatasetSpec.from_json_file(path)
    raise ValueError(f"unknown dataset {name_or_path!r}: use one of {sorted(BUILTIN)} or a path to a .json spec")
