"""The layout of a serving directory: <serving_dir>/<model>/<version>, versions 1, 2, 3, ...

The Pusher (components.pusher) writes it and TF Serving serves its highest number unless a pin
says otherwise (components.serving_config); everything else that asks which version is serving
reads it through pipelines.serving.served_version,
without importing the Pusher's executor. fileio: local paths and gs:// alike.
"""

from __future__ import annotations

import re

from tfx.dsl.io import fileio

VERSION_DIR = re.compile(r"^\d+$")


def served_versions(base_directory: str) -> list[int]:
    """Complete versions under <serving_dir>/<model_name>, ascending (a push in progress sits in a
    hidden staging directory, so it is not listed)."""
    if not fileio.exists(base_directory):
        return []
    return sorted(int(n.rstrip("/")) for n in fileio.listdir(base_directory) if VERSION_DIR.match(n.rstrip("/")))
