"""Reading artifact properties: the one helper for every module that looks at TFX artifacts.

TFX keeps some values as declared properties and others as custom properties, and moved `span`
from the first to the second between releases (TFX 1.21's ExampleGen writes a custom property, so
`Examples.span` reads 0), so every read looks in both. Accepts ML Metadata protos and TFX artifacts.
"""

from __future__ import annotations

from typing import Any

from ml_metadata.proto import metadata_store_pb2

Artifact = metadata_store_pb2.Artifact
# A custom property naming the Examples artifact a record is about (by ML Metadata id): on a
# ValidatedSpan (components.gate) and on a back-fill's statistics (components.span_batch).
EXAMPLES_ID = "examples_id"


def _properties(artifact: Any) -> tuple[Any, Any]:
    proto = getattr(artifact, "mlmd_artifact", artifact)  # a tfx.types.Artifact wraps the proto
    return proto.properties, proto.custom_properties


def int_prop(artifact: Any, name: str, default: int | None = None) -> int | None:
    for props in _properties(artifact):
        if name in props:
            return props[name].int_value
    return default


def str_prop(artifact: Any, name: str) -> str:
    for props in _properties(artifact):
        if name in props:
            return props[name].string_value
    return ""


def has_prop(artifact: Any, name: str) -> bool:
    return any(name in props for props in _properties(artifact))


def span_of(artifact: Any) -> int:
    """The span of an Examples artifact (0 when it has none)."""
    return int_prop(artifact, "span", 0) or 0
