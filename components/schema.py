"""The curated schema's importer: TFX's ImportSchemaGen, cached only while the file is unchanged.

TFX keys a cached execution on the node's parameters (and on the content of a `module_file`), not
on the content of ImportSchemaGen's `schema_file`: after a reviewed edit of the schema, every
later run would hit the cache and keep validating against the old schema, silently. Adding the
file's SHA-256 as a parameter makes an edit (and only an edit) a cache miss. The executor is
TFX's own and ignores the extra parameter.
"""

from __future__ import annotations

import hashlib

from tfx import types
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.base import base_component
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

DIGEST_KEY = "schema_sha256"


class CuratedSchemaSpec(standard_component_specs.ImportSchemaGenSpec):
    PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS, DIGEST_KEY: ExecutionParameter(type=str)}


class CuratedSchemaGen(ImportSchemaGen):
    """ImportSchemaGen(schema_file) plus the file's digest in its parameters (see module doc)."""

    SPEC_CLASS = CuratedSchemaSpec

    def __init__(self, schema_file: str):
        with fileio.open(schema_file, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        spec = CuratedSchemaSpec(
            schema_file=schema_file, schema_sha256=digest, schema=types.Channel(type=standard_artifacts.Schema)
        )
        base_component.BaseComponent.__init__(self, spec=spec)  # ImportSchemaGen.__init__ builds its own spec
