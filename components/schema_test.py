"""The curated schema's importer re-runs when, and only when, the schema file's content changes."""

from pathlib import Path

from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration import metadata, pipeline

from components.schema import DIGEST_KEY, CuratedSchemaGen
from pipelines.runners.local import run_pipeline

SCHEMA = 'feature { name: "fare" type: FLOAT }\n'


def _run(root: Path, schema_file: Path, importer=CuratedSchemaGen):
    node = importer(schema_file=str(schema_file)).with_id("ImportSchemaGen")
    p = pipeline.Pipeline(
        pipeline_name="schema-test",
        pipeline_root=str(root / "p"),
        components=[node],
        enable_cache=True,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(root / "m.db")),
    )
    [result] = run_pipeline(p)
    [schema] = result.outputs["schema"]
    return result.status, (Path(schema.uri) / "schema.pbtxt").read_text()


def test_an_edited_schema_is_imported_again_and_an_unchanged_one_is_cached(tmp_path):
    schema_file = tmp_path / "taxi.pbtxt"
    schema_file.write_text(SCHEMA)
    assert _run(tmp_path, schema_file) == ("ran", SCHEMA)
    assert _run(tmp_path, schema_file) == ("cached", SCHEMA)
    edited = SCHEMA + 'feature { name: "tips" type: FLOAT }\n'
    schema_file.write_text(edited)  # same path, reviewed edit: TFX's ImportSchemaGen would stay cached
    assert _run(tmp_path, schema_file) == ("ran", edited)
    assert _run(tmp_path, schema_file) == ("cached", edited)


def test_the_digest_is_a_parameter_of_the_node(tmp_path):
    a, b = tmp_path / "a.pbtxt", tmp_path / "b.pbtxt"
    a.write_text(SCHEMA)
    b.write_text(SCHEMA.replace("fare", "tips"))
    digests = [CuratedSchemaGen(schema_file=str(f)).exec_properties[DIGEST_KEY] for f in (a, b, a)]
    assert digests[0] == digests[2] != digests[1] and len(digests[0]) == 64


def test_tfx_import_schema_gen_alone_stays_cached_after_an_edit(tmp_path):
    """Why CuratedSchemaGen exists. If this starts failing, TFX keys on the content itself and
    components/schema.py can go."""
    schema_file = tmp_path / "taxi.pbtxt"
    schema_file.write_text(SCHEMA)
    assert _run(tmp_path, schema_file, ImportSchemaGen) == ("ran", SCHEMA)
    schema_file.write_text(SCHEMA + 'feature { name: "tips" type: FLOAT }\n')
    assert _run(tmp_path, schema_file, ImportSchemaGen) == ("cached", SCHEMA)  # the old schema, silently
