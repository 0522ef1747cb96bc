"""TF Serving's model config as the serving commands write it: parsed by TF Serving's own protos,
and moved so that a real server never refuses it.

`ServerStandIn` does only what TF Serving 2.20 does with the file, as read in its source:
  * every poll re-reads the whole file and validates the labels first (server_core.cc:503-514);
  * a label that exists and moves to another version needs that version AVAILABLE, even with
    --allow_version_labels_for_unavailable_models; a new label may point at a version still loading
    (server_core.cc:563-584, server_core_test.cc:853-883); a refused reload applies nothing and is
    refused again at the next poll;
  * an accepted config's `specific` versions present on disk load, and the old ones unload after
    (AvailabilityPreservingPolicy); `latest {1}` loads the newest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components import serving_config as sc


class ServerStandIn:
    def __init__(self, serving_dir: Path, model: str) -> None:
        self.dir, self.model = serving_dir, model
        self.labels: dict[str, int] = {}
        self.available: set[int] = set()
        self.refused = 0

    def poll(self) -> set[int]:
        state = sc.read(str(self.dir), self.model)
        for label, version in state.labels:
            moved = label in self.labels and self.labels[label] != version
            if moved and version not in self.available:
                self.refused += 1
                return self.available
        self.labels = dict(state.labels)
        on_disk = {int(p.name) for p in (self.dir / self.model).iterdir() if p.name.isdigit()}
        self.available = (set(state.versions) if state.versions is not None else {max(on_disk)}) & on_disk
        return self.available


@pytest.fixture
def served(tmp_path):
    for version in (1, 2, 3, 4):
        (tmp_path / "taxi" / str(version)).mkdir(parents=True)
    return tmp_path


def move(served, target, server):
    sc.transition(str(served), "taxi", "/models/taxi", target, server.poll, poll=0, report=lambda _: None)
    server.poll()


def test_the_config_parses_with_tf_servings_protos_and_keeps_other_models(served):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    other = 'model_config_list { config { name: "other" base_path: "/models/other" } }'
    (served / sc.CONFIG_FILE).write_text(other)
    sc.write(str(served), "taxi", "/models/taxi", sc.pinned_to(2, [1, 2, 3, 4]))
    config = text_format.Parse((served / sc.CONFIG_FILE).read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {c.name: c for c in config.model_config_list.config}
    assert set(entries) == {"other", "taxi"}
    taxi = entries["taxi"]
    assert taxi.base_path == "/models/taxi" and list(taxi.model_version_policy.specific.versions) == [2, 4]
    assert dict(taxi.version_labels) == {"stable": 2, "canary": 4}
    assert sc.served(str(served), "taxi") == 2
    sc.write(str(served), "taxi", "/models/taxi", sc.UNPINNED)
    assert sc.read(str(served), "taxi") == sc.UNPINNED and sc.served(str(served), "taxi") == 4
    assert not list(served.glob(".models.config.*"))  # written through a renamed temporary file


def test_no_file_means_the_newest_and_a_bad_file_names_itself(served):
    assert sc.served(str(served), "taxi") == 4
    (served / sc.CONFIG_FILE).write_text("model_config_list { nonsense")
    with pytest.raises(ValueError, match="models.config: not a text-format ModelServerConfig"):
        sc.read(str(served), "taxi")


def test_pins_only_pushed_versions(served):
    with pytest.raises(ValueError, match="version 7 is not a pushed version"):
        sc.pinned_to(7, [1, 2, 3, 4])
    with pytest.raises(ValueError, match="would unload the model"):
        sc.write(str(served), "taxi", "/models/taxi", sc.ServingState((9,), (("stable", 9),)))


def test_a_label_never_moves_onto_a_version_that_is_not_loaded(served):
    server = ServerStandIn(served, "taxi")
    assert server.poll() == {4}
    move(served, sc.pinned_to(3, [1, 2, 3, 4]), server)  # roll back: stable -> 3, canary -> 4
    assert server.labels == {"stable": 3, "canary": 4} and server.available == {3, 4}
    move(served, sc.pinned_to(1, [1, 2, 3, 4]), server)  # stable moves from 3 to 1, not loaded yet
    assert server.labels == {"stable": 1, "canary": 4} and server.available == {1, 4}
    move(served, sc.UNPINNED, server)
    assert server.labels == {} and server.available == {4}
    assert server.refused == 0


def test_the_stand_in_refuses_what_tf_serving_refuses(served):
    """The control for the test above: the same move written at once is refused, and stays so."""
    server = ServerStandIn(served, "taxi")
    sc.write(str(served), "taxi", "/models/taxi", sc.pinned_to(3, [1, 2, 3, 4]))
    server.poll()
    sc.write(str(served), "taxi", "/models/taxi", sc.pinned_to(1, [1, 2, 3, 4]))
    server.poll()
    server.poll()
    assert server.refused == 2 and server.labels == {"stable": 3, "canary": 4}


def test_a_version_that_never_loads_times_out_with_labels_unmoved(served):
    server = ServerStandIn(served, "taxi")
    move(served, sc.pinned_to(3, [1, 2, 3, 4]), server)
    with pytest.raises(TimeoutError, match=r"not loaded version\(s\) \[1, 4\].*labels not moved"):
        sc.transition(
            str(served), "taxi", "/models/taxi", sc.pinned_to(1, [1, 2, 3, 4]), lambda: {3, 4}, timeout=0, poll=0
        )
    state = sc.read(str(served), "taxi")
    assert state.versions == (1, 3, 4) and dict(state.labels) == {"stable": 3, "canary": 4}
