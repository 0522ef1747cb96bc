"""ML Metadata gRPC server: upstream's `metadata_store_server`, made of the `ml-metadata` package's own store.

Why it exists: Kubeflow Pipelines' driver and TFX inside our tasks speak ML Metadata (MLMD) over gRPC
(`ml_metadata.MetadataStoreService`), and no registry we can reach serves upstream's server image
(gcr.io/tfx-oss-public/ml_metadata_store_server). The `ml-metadata` wheel holds the same C++
`MetadataStore` that the upstream binary wraps, bound one function per RPC
(`pywrap.metadata_store_extension.metadata_store.<Rpc>(store, request_bytes) -> (response_bytes,
error_message, status_code)`). So this server is a generic gRPC handler built from the service descriptor
that passes each serialized request to that function and returns its serialized response, with the
store's absl status code as the gRPC status (the codes coincide: upstream's
metadata_store_service_impl.cc `ToGRPCStatus` casts one to the other).

Why ml-metadata 1.17.1 (Python 3.11), not the pipeline's 1.21: KFP 2.17's driver lists a DAG's executions
with `filter_query` (`custom_properties.parent_dag_id.int_value = <id>`, KFP
backend/src/v2/metadata/client.go:996 and :1008), which 1.21's store rejects (UNIMPLEMENTED "filter_query
is not supported - ZetaSQL dependency removed") and 1.17.1's answers.

Flags: upstream's, with their names, defaults and precedence (ml-metadata
ml_metadata/metadata_store/metadata_store_server_main.cc, flags at :260-384, selection at :386-534):
`--grpc_port`, `--grpc_channel_arguments`, `--metadata_source_config_type`
(default|config_file|mysql|postgresql), `--metadata_store_server_config_file` (a text
`MetadataStoreServerConfig`: the way to SQLite, and to TLS), `--metadata_store_connection_retries`,
`--mysql_config_{host,port,database,user,password}`, `--postgres_config_*`, `--enable_database_upgrade`,
`--downgrade_db_schema_version`; gflags' syntax (`--flag=v`, `--flag v`, `-flag`, `--bool`, `--nobool`).
Ours only: `--grpc_listen_host` (upstream always binds 0.0.0.0). Differences on purpose: start-up retries
every connection error with a growing pause (upstream retries ABORTED only, at once), so a database that
comes up after the server is waited for; and one store is kept for the process (upstream connects per
request), so the in-memory fake database of an unconfigured server keeps its data.

RPCs the package's store lacks (1.17.1 and 1.21 alike), and what they answer:
- GetParentContextsByContexts, GetChildrenContextsByContexts: composed exactly from GetParentContextsByContext
  / GetChildrenContextsByContext per distinct id, under the store lock (no other request interleaves),
  mirroring upstream's RDBMSMetadataAccessObject::FindLinkedContextsMapImpl: INVALID_ARGUMENT for an empty
  id list, an entry only for ids with at least one linked context.
- GetLineageGraph: UNIMPLEMENTED, as upstream's own store answers it (metadata_store.cc
  MetadataStore::GetLineageGraph: "GetLineageGraph is not implemented."); GetLineageSubgraph replaces it.
- Any other RPC a newer descriptor may add without a store function: UNIMPLEMENTED naming it.
Newer clients: the request and response messages of ml-metadata 1.21.0 and 1.17.1 are identical (README.md
beside this file), so a TFX 1.21 client loses no field against this server.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import ml_metadata
from google.protobuf import message, text_format
from ml_metadata.metadata_store.pywrap.metadata_store_extension import metadata_store as cc_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2
from ml_metadata.proto import metadata_store_service_pb2 as service_pb2

log = logging.getLogger("metadata_store_server")

SERVICE = service_pb2.DESCRIPTOR.services_by_name["MetadataStoreService"]
STATUS_BY_CODE = {status.value[0]: status for status in grpc.StatusCode}
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED.value[0]


class StoreError(Exception):
    """A non-OK absl status from the store: `code` is the canonical code, which gRPC shares."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Store:
    """The process's one C++ `MetadataStore`, used by one thread at a time.

    Why a lock and not a store per worker thread: the store's metadata sources are documented
    thread-unsafe (ml-metadata sqlite_metadata_source.h:30, mysql_metadata_source.h:30), so one object must
    never serve two threads at once; and the pybind11 binding holds the GIL for the whole call (no
    gil_scoped_release in pywrap/metadata_store_extension.cc; measured: a 0.3 s GetArtifacts stops every
    other Python thread for 0.3 s), so calls run one at a time in this process whatever we do. More stores
    would add database connections, not parallelism. Upstream serializes too ("concurrent call to methods
    in different threads are sequential", metadata_store_service_impl.h:25-26). Every RPC is one
    transaction of the store, so clients still see each call whole. A MySQL connection dropped by the
    server while idle is re-opened by the store itself (mysql_metadata_source.cc: error 2006 at BEGIN).
    The lock is reentrant so that a composed RPC can hold it across its calls.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self._lock = threading.RLock()

    def call(self, rpc: str, request: bytes) -> bytes:
        """One store function on a serialized request; raises StoreError on a non-OK status."""
        function = getattr(cc_store, rpc)
        with self._lock:
            response, error, code = function(self._handle, request)
        if code != 0:
            raise StoreError(code, error.decode("utf-8", errors="replace"))
        return response

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """No other request runs while this is held (for RPCs composed of several store calls)."""
        with self._lock:
            yield


# --- RPCs the store lacks ----------------------------------------------------------------------


def parse(cls: type[message.Message], request: bytes) -> Any:
    try:
        return cls.FromString(request)
    except message.DecodeError as e:
        raise StoreError(INVALID_ARGUMENT, "Could not parse proto") from e  # the store's own words


def linked_contexts(store: Store, request: bytes, *, parents: bool) -> bytes:
    """Get{Parent,Children}ContextsByContexts from the one-context RPC, called per distinct id.

    Exact with respect to upstream's MetadataStore::GetParentContextsByContexts (metadata_store.cc) and
    RDBMSMetadataAccessObject::FindLinkedContextsMapImpl: an empty id list is INVALID_ARGUMENT "Given
    context_ids is empty."; the map has an entry only for ids with linked contexts (an unknown id gets
    none, as the one-context RPC answers it with an empty list); repeated ids count once. Upstream reads in
    one transaction; here the store lock keeps every other request of this server out between the calls.
    """
    if parents:
        req = parse(service_pb2.GetParentContextsByContextsRequest, request)
        response: Any = service_pb2.GetParentContextsByContextsResponse()
        single, single_request, single_response = (
            "GetParentContextsByContext",
            service_pb2.GetParentContextsByContextRequest,
            service_pb2.GetParentContextsByContextResponse,
        )
    else:
        req = parse(service_pb2.GetChildrenContextsByContextsRequest, request)
        response = service_pb2.GetChildrenContextsByContextsResponse()
        single, single_request, single_response = (
            "GetChildrenContextsByContext",
            service_pb2.GetChildrenContextsByContextRequest,
            service_pb2.GetChildrenContextsByContextResponse,
        )
    if not req.context_ids:
        raise StoreError(INVALID_ARGUMENT, "Given context_ids is empty.")
    with store.exclusive():
        for context_id in dict.fromkeys(req.context_ids):
            one = single_request(context_id=context_id)
            if req.HasField("transaction_options"):
                one.transaction_options.CopyFrom(req.transaction_options)
            found = single_response.FromString(store.call(single, one.SerializeToString())).contexts
            if found:
                entry = response.contexts[context_id]
                (entry.parent_contexts if parents else entry.children_contexts).extend(found)
    return response.SerializeToString()


Handler = Callable[[Store, bytes], bytes]

COMPOSED: dict[str, Handler] = {
    "GetParentContextsByContexts": functools.partial(linked_contexts, parents=True),
    "GetChildrenContextsByContexts": functools.partial(linked_contexts, parents=False),
}
NOT_IMPLEMENTED_UPSTREAM = {
    "GetLineageGraph": "GetLineageGraph is not implemented. (ml-metadata's store answers so too; use GetLineageSubgraph)",
}


def handler_for(rpc: str) -> Handler:
    """How one RPC is answered: the store's own function, a composition, or UNIMPLEMENTED naming it."""
    if rpc in COMPOSED:
        return COMPOSED[rpc]
    if rpc not in NOT_IMPLEMENTED_UPSTREAM and hasattr(cc_store, rpc):
        return lambda store, request: store.call(rpc, request)
    reason = NOT_IMPLEMENTED_UPSTREAM.get(
        rpc, f"{rpc} is not implemented: ml-metadata {ml_metadata.__version__}'s store has no such function"
    )

    def unimplemented(store: Store, request: bytes) -> bytes:
        raise StoreError(UNIMPLEMENTED, reason)

    return unimplemented


def service_handler(store: Store) -> grpc.GenericRpcHandler:
    """Every RPC of the service descriptor, on raw bytes (no (de)serialization in Python for the store's)."""

    def serve(rpc: str, handler: Handler, request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            return handler(store, request)
        except StoreError as e:
            log.warning("%s failed: %s", rpc, e.message)  # as upstream logs a failed call
            context.abort(STATUS_BY_CODE.get(e.code, grpc.StatusCode.UNKNOWN), e.message)
            raise  # not reached: abort raises

    methods = {
        m.name: grpc.unary_unary_rpc_method_handler(functools.partial(serve, m.name, handler_for(m.name)))
        for m in SERVICE.methods
    }
    return grpc.method_handlers_generic_handler(SERVICE.full_name, methods)


# --- flags and configuration (upstream's metadata_store_server_main.cc) ------------------------


def gflags_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "t", "true", "y", "yes"):
        return True
    if value in ("0", "f", "false", "n", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def flag_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metadata_store_server",
        description="ML Metadata gRPC server (upstream's flags; see the module docstring).",
        allow_abbrev=False,
    )

    def flag(name: str, **kwargs: Any) -> None:
        parser.add_argument(f"--{name}", f"-{name}", dest=name, **kwargs)

    def bool_flag(name: str, default: bool, help: str) -> None:
        flag(name, type=gflags_bool, nargs="?", const=True, default=default, help=help)
        parser.add_argument(f"--no{name}", f"-no{name}", dest=name, action="store_false", help=argparse.SUPPRESS)

    flag("grpc_port", type=int, default=8080, help="port to listen on (default 8080)")
    flag("grpc_channel_arguments", default="", help="comma-separated KEY=VALUE gRPC server arguments")
    flag("grpc_listen_host", default="0.0.0.0", help="ours: address to bind (upstream: always 0.0.0.0)")
    flag("metadata_source_config_type", default="default", choices=["default", "config_file", "mysql", "postgresql"])
    flag("metadata_store_server_config_file", default="", help="text MetadataStoreServerConfig (SQLite, TLS)")
    flag("metadata_store_connection_retries", type=int, default=5, help="retries when connecting at start-up")
    for name in ("host", "database", "user", "password"):
        flag(f"mysql_config_{name}", default="")
    flag("mysql_config_port", type=int, default=0)
    for name in ("host", "hostaddr", "port", "user", "password", "passfile", "dbname"):
        flag(f"postgres_config_{name}", default="")
    for name in ("sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert"):
        flag(f"postgres_config_{name}", default="")
    bool_flag("postgres_config_skip_db_creation", False, "skip creating the PostgreSQL database")
    bool_flag("enable_database_upgrade", False, "migrate the database schema at start-up")
    flag("downgrade_db_schema_version", type=int, default=-1, help="downgrade the schema to this version, then stop")
    return parser


class ConfigError(ValueError):
    """The flags do not make a configuration (upstream: CHECK failure or `return -1`)."""


def read_config_file(path: str) -> mlmd_pb2.MetadataStoreServerConfig | None:
    """Upstream's ParseMetadataStoreServerConfigOrDie: None when unset, unreadable or not a text proto."""
    if not path:
        return None
    try:
        return text_format.Parse(Path(path).read_text(), mlmd_pb2.MetadataStoreServerConfig())
    except (OSError, text_format.ParseError) as e:
        log.warning("cannot use --metadata_store_server_config_file=%s: %s", path, e)
        return None


def migration(flags: argparse.Namespace, config: mlmd_pb2.MetadataStoreServerConfig) -> None:
    if flags.enable_database_upgrade and flags.downgrade_db_schema_version >= 0:
        raise ConfigError("--enable_database_upgrade=true and --downgrade_db_schema_version >= 0 exclude each other")
    if flags.enable_database_upgrade:
        config.migration_options.enable_upgrade_migration = True
    if flags.downgrade_db_schema_version >= 0:
        config.migration_options.downgrade_to_schema_version = flags.downgrade_db_schema_version


def mysql_config(flags: argparse.Namespace) -> mlmd_pb2.MetadataStoreServerConfig | None:
    """Upstream's ParseMySQLFlagsBasedServerConfigOrDie: None if host, database and port are all unset."""
    if not flags.mysql_config_host and not flags.mysql_config_database and flags.mysql_config_port == 0:
        return None
    if not (flags.mysql_config_host and flags.mysql_config_database and flags.mysql_config_port > 0):
        raise ConfigError(
            "To use mysql store, all of --mysql_config_host, --mysql_config_port, --mysql_config_database needs to be provided"
        )
    config = mlmd_pb2.MetadataStoreServerConfig()
    mysql = config.connection_config.mysql
    mysql.host, mysql.port, mysql.database = (
        flags.mysql_config_host,
        flags.mysql_config_port,
        flags.mysql_config_database,
    )
    mysql.user, mysql.password = flags.mysql_config_user, flags.mysql_config_password
    migration(flags, config)
    return config


def postgres_config(flags: argparse.Namespace) -> mlmd_pb2.MetadataStoreServerConfig:
    """Upstream's CheckPostgreSQLConfig and ParsePostgreSQLFlagsBasedServerConfigOrDie."""
    f = flags
    if bool(f.postgres_config_host) == bool(f.postgres_config_hostaddr):
        raise ConfigError("exactly one of postgres_config_host or postgres_config_hostaddr must be specified")
    for name in ("port", "dbname", "user"):
        if not getattr(f, f"postgres_config_{name}"):
            raise ConfigError(f"postgres_config_{name} must not be empty")
    config = mlmd_pb2.MetadataStoreServerConfig()
    pg = config.connection_config.postgresql
    for name in ("host", "hostaddr", "port", "user", "password", "passfile", "dbname"):
        if value := getattr(f, f"postgres_config_{name}"):
            setattr(pg, name, value)
    if f.postgres_config_skip_db_creation:
        pg.skip_db_creation = True
    for name in ("sslmode", "sslcert", "sslkey", "sslpassword", "sslrootcert"):
        if value := getattr(f, f"postgres_config_{name}"):
            setattr(pg.ssloption, name, value)
    migration(flags, config)
    return config


def server_config(flags: argparse.Namespace) -> mlmd_pb2.MetadataStoreServerConfig:
    """The configuration the flags select, by upstream's rules (main.cc BuildDefaultConnectionConfig etc.)."""
    kind = flags.metadata_source_config_type
    if kind == "config_file":
        config = read_config_file(flags.metadata_store_server_config_file)
        if config is None:
            raise ConfigError("Unable to construct server config using config file.")
        return config
    if kind == "mysql":
        config = mysql_config(flags)
        if config is None:
            raise ConfigError("Unable to construct server config using mysql flags.")
        return config
    if kind == "postgresql":
        return postgres_config(flags)
    config = read_config_file(flags.metadata_store_server_config_file) or mysql_config(flags)
    if config is None:
        log.warning(
            "The connection_config is not given. Using in memory fake database, any metadata will not be persistent"
        )
        config = mlmd_pb2.MetadataStoreServerConfig()
        config.connection_config.fake_database.SetInParent()
    return config


def describe(connection: mlmd_pb2.ConnectionConfig) -> str:
    """The backend, for the log; never the password."""
    kind = connection.WhichOneof("config")
    if kind == "mysql":
        return f"mysql {connection.mysql.user or '-'}@{connection.mysql.host}:{connection.mysql.port}/{connection.mysql.database}"
    if kind == "sqlite":
        return f"sqlite {connection.sqlite.filename_uri}"
    if kind == "postgresql":
        pg = connection.postgresql
        return f"postgresql {pg.user}@{pg.host or pg.hostaddr}:{pg.port}/{pg.dbname}"
    return str(kind)


def connect(config: mlmd_pb2.MetadataStoreServerConfig, retries: int) -> Store:
    """Creates the store (schema created or migrated as configured), retrying while the database is not up.

    The binding raises RuntimeError with the status message only, so every failure is retried (a database
    still starting refuses connections), with pauses of 1, 2, 4, 8 then 10 s; upstream retries ABORTED only.
    A downgrade is done once: the store then reports an error by design, and the process stops (upstream's
    CHECK stops it too).
    """
    connection = config.connection_config.SerializeToString()
    options = config.migration_options.SerializeToString()
    downgrade = config.migration_options.HasField("downgrade_to_schema_version")
    attempt = 0
    while True:
        try:
            return Store(cc_store.CreateMetadataStore(connection, options))
        except RuntimeError as e:
            if downgrade or attempt >= retries:
                raise
            pause = min(2.0**attempt, 10.0)
            attempt += 1
            log.warning(
                "connecting to %s failed (%s); retry %d/%d in %.0f s",
                describe(config.connection_config),
                e,
                attempt,
                retries,
                pause,
            )
            time.sleep(pause)


def channel_arguments(text: str) -> list[tuple[str, int | str]]:
    """Upstream's AddGrpcChannelArgs: KEY=VALUE pairs, integer values as integers."""
    arguments: list[tuple[str, int | str]] = []
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        try:
            arguments.append((key, int(value)))
        except ValueError:
            arguments.append((key, value))
    return arguments


def credentials(config: mlmd_pb2.MetadataStoreServerConfig) -> grpc.ServerCredentials | None:
    """Upstream's BuildSslServerCredentials; None for an insecure port."""
    if not config.HasField("ssl_config"):
        return None
    ssl = config.ssl_config
    return grpc.ssl_server_credentials(
        [(ssl.server_key.encode(), ssl.server_cert.encode())],
        root_certificates=ssl.custom_ca.encode() or None,
        require_client_auth=ssl.client_verify,
    )


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    flags = flag_parser().parse_args(argv)
    if flags.grpc_port <= 0:
        log.error("grpc_port is invalid: %d", flags.grpc_port)
        return 1
    try:
        config = server_config(flags)
        store = connect(config, flags.metadata_store_connection_retries)
    except (ConfigError, RuntimeError) as e:
        log.error("MetadataStore cannot be created with the given connection config: %s", e)
        return 1
    log.info("ml-metadata %s store on %s", ml_metadata.__version__, describe(config.connection_config))

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="mlmd"),
        handlers=[service_handler(store)],
        options=channel_arguments(flags.grpc_channel_arguments),
    )
    address = f"{flags.grpc_listen_host}:{flags.grpc_port}"
    creds = credentials(config)
    try:
        if creds:
            server.add_secure_port(address, creds)
        else:
            server.add_insecure_port(address)
    except RuntimeError as e:
        log.error("cannot listen on %s: %s", address, e)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # PID 1 in a container gets no default SIGTERM action
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    log.info("Server listening on %s", address)
    stop.wait()
    log.info("stopping")
    server.stop(grace=5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
