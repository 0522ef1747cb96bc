"""Pusher executor with atomic, sequential versions.

TFX's Pusher copies the model file by file into <base>/<unix time>, so a model server polling
the directory can see a half-copied version, and two pushes in one second collide. This
executor keeps everything else of TFX's Pusher (blessing check, pushed-model artifact and its
properties) and changes only how the version directory is made:
  * versions are 1, 2, 3, ... (TF Serving serves the highest number);
  * the model is copied into a hidden temporary directory beside the versions and renamed into
    place only when complete (rename is atomic on a POSIX file system and a PVC);
  * an existing version is never overwritten: if the chosen number appears meanwhile, the push
    fails and leaves what is there untouched.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.versions import served_versions


def push_atomically(model_path: str, base_directory: str) -> tuple[str, int]:
    """Copies a SavedModel to <base>/<next version>; returns (path, version)."""
    fileio.makedirs(base_directory)
    version = (served_versions(base_directory) or [0])[-1] + 1
    final = os.path.join(base_directory, str(version))
    staging = os.path.join(base_directory, f".incoming-{version}-{uuid.uuid4().hex[:8]}")
    try:
        io_utils.copy_dir(model_path, staging)
        if fileio.exists(final):
            raise FileExistsError(f"{final} appeared during the push; not overwriting it")
        fileio.rename(staging, final, overwrite=False)
    except BaseException:
        if fileio.exists(staging):
            fileio.rmtree(staging)
        raise
    return final, version


class Executor(tfx_pusher.Executor):
    """TFX Pusher with `push_atomically` for filesystem destinations."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            print("    pusher: model not blessed; nothing pushed", flush=True)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("this Pusher pushes to a filesystem destination only")
        model_path = self.GetModelPath(input_dict)
        serving_path, version = push_atomically(model_path, destination.filesystem.base_directory)
        io_utils.copy_dir(model_path, model_push.uri)  # the archive copy TFX's Pusher keeps
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=str(version))
        logging.info("Model pushed to %s", serving_path)
        print(f"    pusher: pushed version {version} to {serving_path}", flush=True)
