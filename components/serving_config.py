"""What TF Serving serves: its model config file, and the pins and labels written into it.

The serving directory holds, beside <model>/<version>, one `models.config`: a text-format
`ModelServerConfig` that TF Serving reads with `--model_config_file` and re-reads every
`--model_config_file_poll_wait_seconds` (TF Serving 2.20 model_servers/server.cc:212-218 reads it at
start, 337-349 polls it, 165-180 logs a failed re-read and keeps going; main.cc:131-136: with it,
--model_name and --model_base_path are ignored). Without the file (a local run without TF Serving)
the state is the default: serve the newest version.

Two states of our model:
  * unpinned: `latest { num_versions: 1 }`, no labels: TF Serving loads each push by itself (its
    file-system poll), so the Pusher never touches this file;
  * pinned to N: `specific { versions: N [M] }` with labels `stable: N` and, when a newer version M
    was pushed, `canary: M` (loaded beside it, to be tried before unpinning). Later pushes land as
    new versions and are not loaded.

TF Serving refuses a label that moves to a version it has not loaded, even with
--allow_version_labels_for_unavailable_models (which lets only *new* labels point at versions still
loading): server_core.cc:563-584, tested in server_core_test.cc:853-883. Such a refused reload
applies nothing and fails again at every poll. So `transition` moves labels in two writes: first
load the new versions beside the labelled ones, then (once they are AVAILABLE) move the labels.
A missing version in `specific` is only warned about, but when none of the listed versions exists
the served one is unloaded (file_system_storage_path_source.cc:236-244, 441-465): pins are only
ever to versions present on disk.

Written atomically (a temporary file in the same directory, then a rename), so a poll never reads
half a file. Parsed and printed with TF Serving's own protos (tensorflow-serving-api).
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Callable

from tfx.dsl.io import fileio

from components.versions import served_versions

CONFIG_FILE = "models.config"
STABLE, CANARY = "stable", "canary"


@dataclasses.dataclass(frozen=True)
class ServingState:
    """Our model's entry: `versions` None means the newest (unpinned); labels name versions."""

    versions: tuple[int, ...] | None = None
    labels: tuple[tuple[str, int], ...] = ()

    @property
    def pinned(self) -> int | None:
        return dict(self.labels).get(STABLE) if self.versions is not None else None

    @property
    def canary(self) -> int | None:
        return dict(self.labels).get(CANARY)


UNPINNED = ServingState()


def pinned_to(version: int, pushed: list[int]) -> ServingState:
    """Serve `version` (label stable) and load the newest push beside it as the canary."""
    if version not in pushed:
        raise ValueError(f"version {version} is not a pushed version (pushed: {', '.join(map(str, pushed)) or 'none'})")
    newest = max(pushed)
    if newest > version:
        return ServingState((version, newest), ((STABLE, version), (CANARY, newest)))
    return ServingState((version,), ((STABLE, version),))


def config_path(serving_dir: str) -> str:
    return os.path.join(serving_dir, CONFIG_FILE)


def _model_entry(config, model: str):
    for entry in config.model_config_list.config:
        if entry.name == model:
            return entry
    return None


def parse(text: str, model: str) -> ServingState:
    """Our model's state in a ModelServerConfig text (unpinned when the model is not in it)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    entry = _model_entry(config, model)
    if entry is None or entry.model_version_policy.WhichOneof("policy_choice") != "specific":
        return UNPINNED
    return ServingState(
        tuple(entry.model_version_policy.specific.versions), tuple(sorted(entry.version_labels.items()))
    )


def _text(path: str) -> str | None:
    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        text = f.read()
    return text.decode() if isinstance(text, bytes) else text


def read(serving_dir: str, model: str) -> ServingState:
    path = config_path(serving_dir)
    text = _text(path)
    if text is None:
        return UNPINNED
    try:
        return parse(text, model)
    except Exception as exc:  # text_format.ParseError and friends: name the file
        raise ValueError(f"{path}: not a text-format ModelServerConfig: {exc}") from exc


def render(existing: str, model: str, base_path: str, state: ServingState) -> str:
    """`existing` config text with our model's entry set to `state` (other models kept as they are)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse(existing, model_server_config_pb2.ModelServerConfig())
    entry = _model_entry(config, model) or config.model_config_list.config.add()
    entry.Clear()
    entry.name, entry.base_path, entry.model_platform = model, base_path, "tensorflow"
    if state.versions is None:
        entry.model_version_policy.latest.num_versions = 1
    else:
        entry.model_version_policy.specific.versions.extend(state.versions)
    for label, version in state.labels:
        entry.version_labels[label] = version
    return text_format.MessageToString(config)


def write(serving_dir: str, model: str, base_path: str, state: ServingState) -> str:
    """Writes the state into <serving_dir>/models.config atomically; returns the path."""
    path = config_path(serving_dir)
    text = render(_text(path) or "", model, base_path, state)
    if state.versions is not None:
        missing = sorted(set(state.versions) - set(served_versions(os.path.join(serving_dir, model))))
        if missing:
            raise ValueError(f"version(s) {missing} not under {serving_dir}/{model}: TF Serving would unload the model")
    fileio.makedirs(serving_dir)
    staging = os.path.join(serving_dir, f".{CONFIG_FILE}.{uuid.uuid4().hex[:8]}")
    with fileio.open(staging, "w") as f:
        f.write(text)
    fileio.rename(staging, path, overwrite=True)
    return path


def served(serving_dir: str, model: str) -> int | None:
    """The version TF Serving serves (or will, once loaded): the pin, else the newest pushed."""
    state = read(serving_dir, model)
    if state.pinned is not None:
        return state.pinned
    versions = served_versions(os.path.join(serving_dir, model))
    return versions[-1] if versions else None


def _loaded(state: ServingState, newest: int | None) -> set[int]:
    """The versions TF Serving loads in `state`: the listed ones, or the newest on disk."""
    if state.versions is not None:
        return set(state.versions)
    return {newest} if newest is not None else set()


def intermediate(current: ServingState, target: ServingState, newest: int | None) -> ServingState | None:
    """The state to write first when the target loads a version not loaded now: both states'
    versions, the current labels (every one on a loaded version). Then no label ever moves onto,
    or is created on, a version still loading. None when the target can be written at once."""
    now, wanted = _loaded(current, newest), _loaded(target, newest)
    if wanted <= now:
        return None
    return ServingState(tuple(sorted(now | wanted)), current.labels)


def transition(
    serving_dir: str,
    model: str,
    base_path: str,
    target: ServingState,
    available: Callable[[], set[int]] | None,
    timeout: float = 300.0,
    poll: float = 5.0,
    report: Callable[[str], None] = print,
) -> None:
    """Moves serving to `target`. With a server (`available`: the versions it reports AVAILABLE),
    in two writes when labels move (see the module doc), waiting for the new versions to load;
    without one (no TF Serving reads this file yet), in one write: a server started on it later
    takes new labels on versions still loading (--allow_version_labels_for_unavailable_models)."""
    current = read(serving_dir, model)
    pushed = served_versions(os.path.join(serving_dir, model))
    newest = pushed[-1] if pushed else None
    first = intermediate(current, target, newest)
    if first is not None and available is not None:
        write(serving_dir, model, base_path, first)
        wanted = _loaded(target, newest)
        report(f"loading version(s) {', '.join(map(str, sorted(wanted)))} beside the served one(s)")
        deadline = time.monotonic() + timeout
        while not wanted <= available():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"TF Serving has not loaded version(s) {sorted(wanted)} after {timeout:.0f} s; "
                    f"labels not moved, serving unchanged ({config_path(serving_dir)} keeps loading them)"
                )
            time.sleep(poll)
    write(serving_dir, model, base_path, target)
