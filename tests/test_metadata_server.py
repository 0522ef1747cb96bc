"""Our ML Metadata gRPC server (deploy/metadata-server/server.py), through the clients that use it.

The server runs outside this process, from its own environment (ml-metadata 1.17.1 on Python 3.11):
    deploy/metadata-server/with-server.sh deploy/localenv.sh python -m pytest tests/test_metadata_server.py
starts it on a fresh SQLite file and sets OPENCT_TEST_METADATA_SERVER=127.0.0.1:PORT. The clients are the
real ones of the pipeline's environment: ml-metadata 1.21's `MetadataStore` over gRPC, its generated stub
where a test must send exactly what KFP's Go driver sends, and TFX 1.21 through the project's launcher.
All tests share one server, so every name is made unique per test.
"""

import os
import threading
import uuid
from pathlib import Path
from typing import TypedDict

import grpc
import pytest
from ml_metadata import errors
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
from ml_metadata.proto import metadata_store_service_pb2 as service
from ml_metadata.proto import metadata_store_service_pb2_grpc as service_grpc
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.orchestration import pipeline
from tfx.types import standard_artifacts

from pipelines.names import NodeStatus
from pipelines.runners.local import run_pipeline

# No `from __future__ import annotations` in this module: @component reads the real annotations.


@pytest.fixture(scope="module")
def address() -> tuple[str, int]:
    value = os.environ.get("OPENCT_TEST_METADATA_SERVER")
    if not value:
        pytest.fail(
            "OPENCT_TEST_METADATA_SERVER is not set: these tests need the ML Metadata server; run them as\n"
            "  deploy/metadata-server/with-server.sh deploy/localenv.sh python -m pytest tests/test_metadata_server.py"
        )
    host, _, port = value.rpartition(":")
    return host, int(port)


@pytest.fixture(scope="module")
def store(address) -> metadata_store.MetadataStore:
    return new_client(address)


@pytest.fixture(scope="module")
def stub(address):
    host, port = address
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        yield service_grpc.MetadataStoreServiceStub(channel)


@pytest.fixture
def name(request) -> str:
    """A prefix no other test (or earlier session on the same server) uses."""
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"


def new_client(address) -> metadata_store.MetadataStore:
    host, port = address
    return metadata_store.MetadataStore(pb.MetadataStoreClientConfig(host=host, port=port))


# --- the store's own RPCs, passed through --------------------------------------------------------


def test_nodes_types_events_and_links_round_trip(store, name):
    """Every kind of record TFX and KFP write (types with properties, artifacts, executions, contexts,
    events, attributions, associations, parent contexts) comes back as written, read by id, type,
    name, URI and context."""
    artifact_type = pb.ArtifactType(name=f"{name}-Examples", properties={"span": pb.INT, "split": pb.STRING})
    artifact_type_id = store.put_artifact_type(artifact_type)
    execution_type_id = store.put_execution_type(pb.ExecutionType(name=f"{name}-Trainer"))
    context_type_id = store.put_context_type(pb.ContextType(name=f"{name}-run"))
    assert store.put_artifact_type(artifact_type) == artifact_type_id  # idempotent, as TFX relies on
    assert store.get_artifact_type(f"{name}-Examples").properties["span"] == pb.INT

    artifact = pb.Artifact(type_id=artifact_type_id, uri=f"/data/{name}/1", state=pb.Artifact.LIVE)
    artifact.properties["span"].int_value = 7
    artifact.custom_properties["note"].string_value = "é unicode"
    [artifact_id] = store.put_artifacts([artifact])
    execution = pb.Execution(type_id=execution_type_id, last_known_state=pb.Execution.COMPLETE)
    [execution_id] = store.put_executions([execution])
    parent_type_id = store.put_context_type(pb.ContextType(name=f"{name}-pipeline"))
    [run_id, parent_id] = store.put_contexts(
        [pb.Context(type_id=context_type_id, name=f"{name}-r1"), pb.Context(type_id=parent_type_id, name=name)]
    )
    store.put_events(
        [pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=pb.Event.OUTPUT)]
        + [pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=pb.Event.INPUT)]
    )
    store.put_attributions_and_associations(
        [pb.Attribution(artifact_id=artifact_id, context_id=run_id)],
        [pb.Association(execution_id=execution_id, context_id=run_id)],
    )
    store.put_parent_contexts([pb.ParentContext(child_id=run_id, parent_id=parent_id)])

    [got] = store.get_artifacts_by_id([artifact_id])
    assert got.uri == artifact.uri and got.properties["span"].int_value == 7
    assert got.custom_properties["note"].string_value == "é unicode"
    assert got.type == f"{name}-Examples" and got.create_time_since_epoch > 0
    assert [a.id for a in store.get_artifacts_by_type(f"{name}-Examples")] == [artifact_id]
    assert [a.id for a in store.get_artifacts_by_uri(artifact.uri)] == [artifact_id]
    assert [a.id for a in store.get_artifacts_by_context(run_id)] == [artifact_id]
    assert [e.id for e in store.get_executions_by_context(run_id)] == [execution_id]
    assert store.get_context_by_type_and_name(f"{name}-run", f"{name}-r1").id == run_id
    assert [c.id for c in store.get_contexts_by_artifact(artifact_id)] == [run_id]
    assert [c.id for c in store.get_contexts_by_execution(execution_id)] == [run_id]
    assert [c.id for c in store.get_parent_contexts_by_context(run_id)] == [parent_id]
    assert [c.id for c in store.get_children_contexts_by_context(parent_id)] == [run_id]
    events = store.get_events_by_execution_ids([execution_id])
    assert sorted(e.type for e in events) == [pb.Event.INPUT, pb.Event.OUTPUT]
    assert {e.execution_id for e in store.get_events_by_artifact_ids([artifact_id])} == {execution_id}

    [execution] = store.get_executions_by_id([execution_id])
    execution.last_known_state = pb.Execution.FAILED
    store.put_executions([execution])  # an update, by id
    assert store.get_executions_by_id([execution_id])[0].last_known_state == pb.Execution.FAILED


def kfp_executions_in_dag(stub, context_id: int, dag_id: int | None) -> list[int]:
    """What KFP's driver sends to list a DAG's executions (GetExecutionsInDAG, client.go:981-1070): the
    run context, `filter_query` set (to `custom_properties.parent_dag_id.int_value = <id>`, :996, or left
    empty when not filtering, :994-997), `next_page_token` set to "" and then to each returned token
    (:1003-1010, :1068), no page size (the proto's default, 20)."""
    query = f"custom_properties.parent_dag_id.int_value = {dag_id}" if dag_id is not None else ""
    ids, token = [], ""
    while True:
        options = pb.ListOperationOptions(filter_query=query, next_page_token=token)
        response = stub.GetExecutionsByContext(
            service.GetExecutionsByContextRequest(context_id=context_id, options=options)
        )
        ids += [e.id for e in response.executions]
        token = response.next_page_token
        if not token:
            return ids


def test_kfp_driver_filter_query_on_parent_dag_id(store, stub, name):
    """The exact filter_query of KFP 2.17.0 backend/src/v2/metadata/client.go:996 (sent at :1008) selects
    the executions of one DAG of a run, across pages; the unfiltered form (:994-997, empty filter_query)
    returns them all. ml-metadata 1.21's store rejects this query (next test): the reason the server
    runs 1.17.1."""
    execution_type_id = store.put_execution_type(pb.ExecutionType(name=f"{name}-system.ContainerExecution"))
    run_type_id = store.put_context_type(pb.ContextType(name=f"{name}-system.PipelineRun"))
    [run] = store.put_contexts([pb.Context(type_id=run_type_id, name=f"{name}-run")])
    [root_dag, inner_dag] = store.put_executions([pb.Execution(type_id=execution_type_id)] * 2)

    def child(dag: int, i: int) -> pb.Execution:
        e = pb.Execution(type_id=execution_type_id)
        e.custom_properties["parent_dag_id"].int_value = dag
        e.custom_properties["task_name"].string_value = f"task-{i}"
        return e

    in_root = store.put_executions([child(root_dag, i) for i in range(23)])  # > 20: two pages
    in_inner = store.put_executions([child(inner_dag, i) for i in range(3)])
    every = [root_dag, inner_dag, *in_root, *in_inner]
    store.put_attributions_and_associations([], [pb.Association(execution_id=e, context_id=run) for e in every])

    assert sorted(kfp_executions_in_dag(stub, run, root_dag)) == sorted(in_root)
    assert sorted(kfp_executions_in_dag(stub, run, inner_dag)) == sorted(in_inner)
    assert sorted(kfp_executions_in_dag(stub, run, None)) == sorted(every)
    assert kfp_executions_in_dag(stub, run, 10**12) == []
    # The same query through ml-metadata's Python client and its own paging.
    options = metadata_store.ListOptions(filter_query=f"custom_properties.parent_dag_id.int_value = {inner_dag}")
    assert sorted(e.id for e in store.get_executions_by_context(run, list_options=options)) == sorted(in_inner)


def test_the_pipeline_envs_own_store_rejects_that_filter_query(tmp_path):
    """Why the server is not the pipeline's ml-metadata 1.21: its own store (in-process, SQLite) answers
    KFP's query (backend/src/v2/metadata/client.go:996) with UNIMPLEMENTED. If this starts failing, the
    pipeline's ml-metadata answers filter_query again and the server could share its environment."""
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "m.db")
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    local = metadata_store.MetadataStore(config)
    [run] = local.put_contexts([pb.Context(type_id=local.put_context_type(pb.ContextType(name="run")), name="r")])
    [execution] = local.put_executions([pb.Execution(type_id=local.put_execution_type(pb.ExecutionType(name="e")))])
    local.put_attributions_and_associations([], [pb.Association(execution_id=execution, context_id=run)])
    options = metadata_store.ListOptions(filter_query="custom_properties.parent_dag_id.int_value = 7")
    with pytest.raises(errors.UnimplementedError, match="filter_query is not supported"):
        local.get_executions_by_context(run, list_options=options)


# --- concurrency ---------------------------------------------------------------------------------


def test_concurrent_clients_all_writes_visible(address, store, name):
    """KFP runs several tasks at once, each its own client: 8 clients writing at the same time (the same
    type registered by all, 15 artifacts each with an execution, events and context links, and the same
    context name inserted by all) finish without error, every write is visible afterwards, and a
    contended unique name is inserted exactly once (the others get ALREADY_EXISTS, as from the store)."""
    threads, per_thread = 8, 15
    [shared] = store.put_contexts(
        [pb.Context(type_id=store.put_context_type(pb.ContextType(name=f"{name}-ctx")), name=name)]
    )
    start = threading.Barrier(threads)
    results: dict[int, object] = {}

    def work(i: int) -> None:
        try:
            client = new_client(address)
            start.wait()
            type_id = client.put_artifact_type(pb.ArtifactType(name=f"{name}-A", properties={"n": pb.INT}))
            exec_type_id = client.put_execution_type(pb.ExecutionType(name=f"{name}-E"))
            ids = []
            for n in range(per_thread):
                a = pb.Artifact(type_id=type_id, uri=f"/{name}/{i}/{n}")
                a.properties["n"].int_value = n
                [artifact_id] = client.put_artifacts([a])
                [execution_id] = client.put_executions([pb.Execution(type_id=exec_type_id)])
                client.put_events([pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=pb.Event.OUTPUT)])
                client.put_attributions_and_associations(
                    [pb.Attribution(artifact_id=artifact_id, context_id=shared)],
                    [pb.Association(execution_id=execution_id, context_id=shared)],
                )
                ids.append(artifact_id)
            try:
                context_type_id = client.put_context_type(pb.ContextType(name=f"{name}-contended"))
                client.put_contexts([pb.Context(type_id=context_type_id, name="same")])
                inserted = True
            except errors.AlreadyExistsError:
                inserted = False
            results[i] = (type_id, ids, inserted)
        except BaseException as e:  # reported below, with the thread's number
            results[i] = e

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    failures = {i: r for i, r in results.items() if isinstance(r, BaseException)}
    assert not failures and len(results) == threads, failures
    type_ids = {r[0] for r in results.values()}
    assert len(type_ids) == 1  # one type, whoever registered it first
    written = sorted(a for r in results.values() for a in r[1])
    assert len(set(written)) == threads * per_thread
    assert sorted(a.id for a in store.get_artifacts_by_type(f"{name}-A")) == written
    assert sorted(a.id for a in store.get_artifacts_by_context(shared)) == written
    assert len(store.get_executions_by_context(shared)) == threads * per_thread
    events = store.get_events_by_artifact_ids(written)
    assert len(events) == threads * per_thread and {e.type for e in events} == {pb.Event.OUTPUT}
    assert sum(r[2] for r in results.values()) == 1


# --- RPCs the package's store lacks --------------------------------------------------------------


def test_batch_parent_and_child_context_rpcs_match_the_single_context_ones(store, stub, name):
    """GetParentContextsByContexts / GetChildrenContextsByContexts (not in the package's store; composed by
    the server) answer what upstream's store does: per context, the same contexts as the one-context RPC;
    no entry for a context without links or an unknown id; repeated ids once; an empty list is
    INVALID_ARGUMENT."""
    type_id = store.put_context_type(pb.ContextType(name=f"{name}-ctx"))
    p1, p2, c1, c2, lone = store.put_contexts([pb.Context(type_id=type_id, name=f"{name}-{n}") for n in range(5)])
    store.put_parent_contexts(
        [pb.ParentContext(child_id=c, parent_id=p) for c, p in ((c1, p1), (c1, p2), (c2, p1))],
    )
    unknown = 10**12

    parents = stub.GetParentContextsByContexts(
        service.GetParentContextsByContextsRequest(context_ids=[c1, c2, lone, c1, unknown])
    )
    assert set(parents.contexts) == {c1, c2}
    for child in (c1, c2):
        got = sorted(c.id for c in parents.contexts[child].parent_contexts)
        assert got == sorted(c.id for c in store.get_parent_contexts_by_context(child))
    assert sorted(c.id for c in parents.contexts[c1].parent_contexts) == sorted([p1, p2])
    assert parents.contexts[c2].parent_contexts[0].name == f"{name}-0"  # whole contexts, not ids

    children = stub.GetChildrenContextsByContexts(
        service.GetChildrenContextsByContextsRequest(context_ids=[p1, p2, lone])
    )
    assert {k: sorted(c.id for c in v.children_contexts) for k, v in children.contexts.items()} == {
        p1: sorted([c1, c2]),
        p2: [c1],
    }
    for rpc, request in (
        (stub.GetParentContextsByContexts, service.GetParentContextsByContextsRequest()),
        (stub.GetChildrenContextsByContexts, service.GetChildrenContextsByContextsRequest()),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            rpc(request)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.details() == "Given context_ids is empty."


def test_get_lineage_graph_is_unimplemented_as_upstream_and_every_other_rpc_answers(stub):
    """GetLineageGraph answers UNIMPLEMENTED naming it (upstream's own store does: metadata_store.cc
    MetadataStore::GetLineageGraph); every other RPC of ml-metadata 1.21's service descriptor reaches the
    store (an empty request gets an answer or a store error, never UNIMPLEMENTED)."""
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetLineageGraph(service.GetLineageGraphRequest())
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "GetLineageGraph" in raised.value.details()

    descriptor = service.DESCRIPTOR.services_by_name["MetadataStoreService"]
    assert len(descriptor.methods) == 52
    unanswered = []
    for method in descriptor.methods:
        if method.name == "GetLineageGraph":
            continue
        try:
            getattr(stub, method.name)(getattr(service, method.input_type.name)())
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                unanswered.append((method.name, e.code(), e.details()))
    assert unanswered == []


# --- errors: the store's status, as the real server gives it -------------------------------------


def test_store_errors_come_back_as_the_grpc_codes_of_the_real_server(store, stub, name, tmp_path):
    """A store error reaches the client as the gRPC status upstream's server gives (its absl code, which
    gRPC shares, and its message): ALREADY_EXISTS for a duplicate context name, NOT_FOUND for an unknown
    type, INVALID_ARGUMENT for a type without a name. The Python client turns each into the same
    exception class as the same call on an in-process store (the pipeline env's own, on SQLite)."""
    local_config = pb.ConnectionConfig()
    local_config.sqlite.filename_uri = str(tmp_path / "m.db")
    local_config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    local = metadata_store.MetadataStore(local_config)

    def duplicate_context(s):
        type_id = s.put_context_type(pb.ContextType(name=f"{name}-ctx"))
        s.put_contexts([pb.Context(type_id=type_id, name="dup")])
        s.put_contexts([pb.Context(type_id=type_id, name="dup")])

    cases = [
        (duplicate_context, errors.AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
        (lambda s: s.get_artifact_type(f"{name}-no-such-type"), errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
        (
            lambda s: s.put_artifact_type(pb.ArtifactType()),
            errors.InvalidArgumentError,
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    for call, exception, code in cases:
        with pytest.raises(exception) as remote:
            call(store)
        with pytest.raises(exception):
            call(local)
        assert isinstance(remote.value.__cause__, grpc.RpcError) and remote.value.__cause__.code() == code
        assert remote.value.message  # the store's message, passed through

    with pytest.raises(grpc.RpcError) as raised:
        stub.GetArtifactType(service.GetArtifactTypeRequest(type_name=f"{name}-no-such-type"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


# --- TFX 1.21 against the server -----------------------------------------------------------------


class FeatureCount(TypedDict):
    features: int


@component
def CountFeatures(schema: InputArtifact[standard_artifacts.Schema]) -> FeatureCount:
    """Reads the imported schema: its input is resolved from ML Metadata, as every downstream node's."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.utils import io_utils

    parsed = io_utils.parse_pbtxt_file(os.path.join(schema.uri, "schema.pbtxt"), schema_pb2.Schema())
    return {"features": len(parsed.feature)}


def test_tfx_pipeline_runs_and_caches_through_the_server(address, store, name, tmp_path):
    """TFX 1.21 with a gRPC connection to the server, through the project's launcher
    (pipelines/runners/launcher.launch, which every KFP task's `openct step` runs too): ImportSchemaGen then a node that consumes its output run and register their executions,
    artifacts and contexts; a second run with another run id finds them and is all CACHED (TFX's cache
    lookup and input resolution are MLMD queries)."""
    schema_file = tmp_path / "schema.pbtxt"
    schema_file.write_text('feature { name: "fare" type: FLOAT }\nfeature { name: "tips" type: FLOAT }\n')
    host, port = address

    def run(run_id: str):
        importer = ImportSchemaGen(schema_file=str(schema_file))
        counter = CountFeatures(schema=importer.outputs["schema"])
        p = pipeline.Pipeline(
            pipeline_name=name,
            pipeline_root=str(tmp_path / "root"),
            components=[importer, counter],
            enable_cache=True,
            metadata_connection_config=pb.MetadataStoreClientConfig(host=host, port=port),
        )
        return {r.node_id: r for r in run_pipeline(p, run_id=run_id)}

    first = run(f"{name}-1")
    assert {k: r.status for k, r in first.items()} == {
        "ImportSchemaGen": NodeStatus.RAN,
        "CountFeatures": NodeStatus.RAN,
    }
    [schema] = first["ImportSchemaGen"].outputs["schema"]
    assert Path(schema.uri, "schema.pbtxt").read_text() == schema_file.read_text()
    [count] = first["CountFeatures"].outputs["features"]
    assert Path(count.uri).read_text() == "2"  # a value artifact: its URI is the file

    second = run(f"{name}-2")
    assert {k: r.status for k, r in second.items()} == {
        "ImportSchemaGen": NodeStatus.CACHED,
        "CountFeatures": NodeStatus.CACHED,
    }
    assert second["CountFeatures"].outputs["features"][0].id == count.id

    # What TFX registered, read back by another client.
    pipeline_context = store.get_context_by_type_and_name("pipeline", name)
    assert pipeline_context is not None
    runs = {c.name for c in store.get_children_contexts_by_context(pipeline_context.id)}
    assert {f"{name}-1", f"{name}-2"} <= runs
    executions = store.get_executions_by_context(pipeline_context.id)
    states = sorted(pb.Execution.State.Name(e.last_known_state) for e in executions)
    assert states == ["CACHED", "CACHED", "COMPLETE", "COMPLETE"]
    artifacts = {a.id: a for a in store.get_artifacts_by_context(pipeline_context.id)}
    assert {schema.id, count.id} <= set(artifacts)
    assert artifacts[schema.id].type == "Schema" and artifacts[count.id].type == "Integer"
    consumed = [e for e in store.get_events_by_artifact_ids([schema.id]) if e.type == pb.Event.INPUT]
    assert len(consumed) == 2  # CountFeatures read it in both runs (the cached one records its inputs too)
