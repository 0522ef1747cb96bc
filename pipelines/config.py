"""The one typed configuration object of a pipeline run.

Precedence: defaults < environment (OPENCT_<FIELD>, e.g. OPENCT_DATA_ROOT) < command line
(--data-root). Every runner (local, Kubeflow) builds the pipeline from this object, so a setting
means the same thing wherever the pipeline runs. Defaults put everything under the repository's
git-ignored `build/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipelines.data.dataset import DatasetSpec, load_dataset

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build"
ENV_PREFIX = "OPENCT_"

# The settings each kind of command reads; a command shows only its own flags (the environment can
# still set any of them).
DATA_SETTINGS = ("dataset", "data_root", "span_months")
STORE_SETTINGS = ("pipeline_name", "pipeline_root", "metadata_path")
SERVING_SETTINGS = ("dataset", "serving_dir", "model_name", "serving_mount")


def _setting(default: Any, doc: str) -> Any:
    """A field with its one-line description: the CLI help and docs/configuration.md read it."""
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Settings of one pipeline; each field's doc is its CLI help and its line in docs/configuration.md."""

    pipeline_name: str = _setting("openct", "names the ML Metadata contexts and the KFP pipeline")
    dataset: str = _setting("taxi", "built-in dataset name or a dataset spec .json file")
    data_root: str = _setting(str(BUILD_DIR / "data"), "spans: <data_root>/span-<N>/data.csv")
    pipeline_root: str = _setting(str(BUILD_DIR / "pipeline"), "TFX artifacts")
    metadata_path: str = _setting("", "SQLite ML Metadata; default <pipeline_root>/metadata.sqlite")
    serving_dir: str = _setting(str(BUILD_DIR / "serving"), "pushed models: <serving_dir>/<model>/<version>")
    model_name: str = _setting("", "served model name (TF Serving's model directory); default: the dataset's name")
    serving_mount: str = _setting(
        "", "the serving directory as TF Serving sees it (its model config's base_path); default: serving_dir"
    )
    span_months: int = _setting(
        0, "months of data per span when cutting the source CSV; 0: as recorded in the data root (3 for a new one)"
    )
    window_spans: int = _setting(8, "train on the latest N validated spans")
    train_steps: int = _setting(2000, "upper bound; early stopping usually ends sooner")
    batch_size: int = _setting(128, "training batch size")
    learning_rate: float = _setting(0.003, "Adam learning rate")
    hidden_units: str = _setting("64,32", "deep part of the wide-and-deep model")
    early_stopping_patience: int = _setting(2, "epochs without val_loss improvement")
    # Off by default: measured by `make bench` on the taxi spans (~1,000 rows each), the cache made
    # a full run 63.6 s / 1.4 GB against 52.4 s / 1.2 GB, and a one-new-span run 29.3 s against
    # 25.7 s (docs/results.md, Benchmark). It pays when analysing a span costs more than Beam's per-span,
    # per-analyzer stage overhead, i.e. for large spans. Measured by `make bench-scale` at 94,000 rows
    # per span (1.5 million in 16 spans): Transform in a one-new-span run 21.0 s without, 8.7 s with
    # it; in the first full run 22.3 s without, 38.2 s with it (it writes every span's cache). Turn it
    # on for spans of ~50,000 rows and more (docs/results.md, Scale).
    analyzer_cache: bool = _setting(
        False, "Transform analyses each span once and reuses it in later windows (pays on large spans)"
    )
    warm_start: bool = _setting(True, "start from the latest blessed model's weights when shapes match")
    min_auc: float = _setting(0.65, "absolute gate on the candidate's AUC (overall slice)")
    min_accuracy: float = _setting(0.6, "absolute gate on the candidate's binary accuracy (overall slice)")
    max_auc_drop: float = _setting(0.01, "allowed AUC drop against the baseline model")
    # TFMA's time grows with the rows it evaluates (components.window.ReferenceWindow): 390 s of a
    # 453-s run on 470,300 evaluation rows (docs/results.md, Scale). 300,000 span rows hold about
    # 100,000 evaluation rows, which measure an AUC to about 0.001; below that, nothing changes.
    eval_max_rows: int = _setting(
        300_000,
        "the Evaluator judges on the newest vetted spans of the window until they hold this many rows "
        "(both splits; it reads their eval split, a third); 0: every span but the newest",
    )
    # The trigger policy (`openct ct trigger`), off by default: a run per new span, as soon as it
    # arrives. Runs are counted from ML Metadata (any trigger, manual ones too; not the back-fill).
    trigger_min_new_rows: int = _setting(0, "the trigger waits until the new spans hold at least this many rows")
    trigger_cooldown_minutes: int = _setting(0, "the trigger starts no run within this many minutes of the last start")
    trigger_daily_runs: int = _setting(
        0, "the trigger starts no run once this many started in the last 24 h (0: no limit)"
    )
    alertmanager_url: str = _setting(
        "", "Prometheus Alertmanager (e.g. http://localhost:9093): blocked spans, failed runs, drift... alert there"
    )
    alert_webhook_url: str = _setting("", "a URL that receives the same alerts as one JSON POST")
    # Empty means Beam's DirectRunner with its defaults (in_memory, 1 worker). Non-empty arguments
    # without a dependency option (--sdk_container_image, --setup_file, --extra_packages,
    # --requirements_file) make TFX copy and package its whole install (52 MB, 2.5 s) for every
    # Beam component execution and never delete it (tfx 1.21 base_beam_executor.py:82-84,
    # utils/dependency_utils.py:58-72 and 96-109): useless to the DirectRunner, needed remotely.
    beam_args: str = _setting(
        "",
        "Beam pipeline options of every Beam-based component (empty: DirectRunner, in process); "
        "for a remote runner include --sdk_container_image",
    )

    def __post_init__(self) -> None:
        if self.window_spans < 1 or self.span_months < 0:
            raise ValueError("window_spans must be >= 1 and span_months >= 0")
        if self.eval_max_rows < 0:
            raise ValueError("eval_max_rows must be >= 0 (0: no limit)")
        if self.train_steps < 1 or self.batch_size < 1:
            raise ValueError("train_steps and batch_size must be >= 1")
        if min(self.trigger_min_new_rows, self.trigger_cooldown_minutes, self.trigger_daily_runs) < 0:
            raise ValueError("trigger_min_new_rows, trigger_cooldown_minutes and trigger_daily_runs must be >= 0")
        if not 0.0 <= self.min_auc <= 1.0 or not 0.0 <= self.min_accuracy <= 1.0:
            raise ValueError("min_auc and min_accuracy must be in [0, 1]")
        _ = self.hidden_layer_sizes  # validates the list

    # --- derived values -------------------------------------------------------------------
    @property
    def spec(self) -> DatasetSpec:
        return load_dataset(self.dataset)

    @property
    def metadata(self) -> str:
        if self.metadata_path:
            return self.metadata_path
        if "://" in self.pipeline_root:  # gs://...: Path would fold the scheme's '//' into '/'
            return self.pipeline_root.rstrip("/") + "/metadata.sqlite"
        return str(Path(self.pipeline_root) / "metadata.sqlite")

    @property
    def served_model_name(self) -> str:
        return self.model_name or self.spec.name

    @property
    def model_serving_dir(self) -> str:
        return str(Path(self.serving_dir) / self.served_model_name)

    @property
    def served_base_path(self) -> str:
        """Our model's directory as TF Serving reads it: TF Serving wants it absolute
        (server_core.cc:130-149 refuses a relative base_path)."""
        mount = self.serving_mount or str(Path(self.serving_dir).resolve())
        return mount.rstrip("/") + "/" + self.served_model_name

    @property
    def hidden_layer_sizes(self) -> list[int]:
        try:
            sizes = [int(s) for s in self.hidden_units.split(",") if s.strip()]
        except ValueError as exc:
            raise ValueError(f"hidden_units must be comma-separated integers: {self.hidden_units!r}") from exc
        if not sizes or min(sizes) < 1:
            raise ValueError(f"hidden_units must list positive sizes: {self.hidden_units!r}")
        return sizes

    def training_config(self) -> dict[str, Any]:
        """What Transform and Trainer receive as custom_config (JSON-able)."""
        return {
            # Without the data checks' thresholds: tuning a check must not invalidate Transform's cache
            "dataset": {k: v for k, v in self.spec.to_dict().items() if k != "checks"},
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "hidden_units": self.hidden_layer_sizes,
            "early_stopping_patience": self.early_stopping_patience,
            "warm_start": self.warm_start,
        }

    def data_checks_config(self) -> dict[str, Any]:
        """What the DataChecks component receives (JSON-able): thresholds, label, columns, data root."""
        spec = self.spec
        return {
            "thresholds": dataclasses.asdict(spec.checks),
            "label": dataclasses.asdict(spec.label),
            "scale_features": spec.scale_columns,
            "time_column": spec.timestamp_column,
            "data_root": self.data_root,
            "recent_spans": self.window_spans,
        }

    def fingerprint(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def replace(self, **changes: Any) -> PipelineConfig:
        return dataclasses.replace(self, **changes)

    # --- construction from environment and CLI -----------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> PipelineConfig:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f, raw, source=ENV_PREFIX + f.name.upper())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, fields: Iterable[str] | None = None) -> None:
        """One --flag per field in `fields` (default all), in a group of its own; default None, so
        that unset flags fall back to the environment, then to the defaults."""
        wanted = set(fields) if fields is not None else None
        unknown = (wanted or set()) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"no such settings: {sorted(unknown)}")
        group = parser.add_argument_group("settings (also OPENCT_<NAME> in the environment)")
        for f in dataclasses.fields(cls):
            if wanted is not None and f.name not in wanted:
                continue
            flag = "--" + f.name.replace("_", "-")
            kind = field_type(f)
            if kind is bool:
                group.add_argument(
                    flag,
                    dest=f.name,
                    default=None,
                    action=argparse.BooleanOptionalAction,
                    help=f"{f.metadata['doc']} (default {f.default})".strip(),
                )
            else:
                group.add_argument(
                    flag,
                    dest=f.name,
                    default=None,
                    type=kind,
                    metavar=f.name.upper(),
                    help=f"{f.metadata['doc']} (default {f.default!r})".strip(),
                )

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> PipelineConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls.from_env(environ, **{k: v for k, v in vars(args).items() if k in names})


def field_type(f: dataclasses.Field) -> type:
    hints = typing.get_type_hints(PipelineConfig)
    kind = hints[f.name]
    if isinstance(kind, types.UnionType):  # not used today; keep the parser honest
        raise TypeError(f"unsupported config field type {kind}")
    return kind


def _parse(f: dataclasses.Field, raw: str, source: str) -> Any:
    kind = field_type(f)
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{source}={raw!r} is not a valid {kind.__name__}") from exc
