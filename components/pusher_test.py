import os
from pathlib import Path

import pytest

from components.pusher import push_atomically
from components.versions import served_versions


def _model(tmp_path, name="m"):
    src = tmp_path / name
    (src / "variables").mkdir(parents=True)
    (src / "saved_model.pb").write_bytes(b"graph-" + name.encode())
    (src / "variables" / "variables.index").write_bytes(b"idx")
    return str(src)


def test_versions_are_sequential_and_complete(tmp_path):
    base = str(tmp_path / "serving" / "taxi")
    path1, v1 = push_atomically(_model(tmp_path, "a"), base)
    path2, v2 = push_atomically(_model(tmp_path, "b"), base)
    assert (v1, v2) == (1, 2)
    assert served_versions(base) == [1, 2]
    assert Path(path1, "saved_model.pb").read_bytes() == b"graph-a"
    assert Path(path2, "variables", "variables.index").read_bytes() == b"idx"
    assert sorted(os.listdir(base)) == ["1", "2"]  # no staging leftovers


def test_failed_copy_leaves_nothing_behind_and_keeps_earlier_versions(tmp_path, monkeypatch):
    base = str(tmp_path / "serving")
    push_atomically(_model(tmp_path), base)
    from components import pusher

    def broken_copy(src, dst):
        os.makedirs(dst)
        open(os.path.join(dst, "partial"), "w").close()
        raise OSError("disk full")

    monkeypatch.setattr(pusher.io_utils, "copy_dir", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        push_atomically(_model(tmp_path, "b"), base)
    assert sorted(os.listdir(base)) == ["1"]
    assert Path(base, "1", "saved_model.pb").read_bytes() == b"graph-m"


def test_never_overwrites_a_version_that_appears(tmp_path, monkeypatch):
    base = str(tmp_path / "serving")
    from components import pusher

    real_copy = pusher.io_utils.copy_dir

    def racing_copy(src, dst):
        real_copy(src, dst)
        os.makedirs(os.path.join(base, "1"))  # another pusher won the race
        open(os.path.join(base, "1", "theirs"), "w").close()

    monkeypatch.setattr(pusher.io_utils, "copy_dir", racing_copy)
    with pytest.raises(FileExistsError, match="not overwriting"):
        push_atomically(_model(tmp_path), base)
    assert os.listdir(os.path.join(base, "1")) == ["theirs"]
    assert sorted(os.listdir(base)) == ["1"]
