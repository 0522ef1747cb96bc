"""A TEST DOUBLE of the Kubeflow Pipelines REST API (v2beta1): not KFP, a stand-in for tests.

It serves the endpoints our client uses from in-memory state, over real HTTP, so that `kfp.Client`
and `kfp_server_api` run unmodified. Every JSON request body is checked strictly against the
`kfp_server_api` model of that endpoint (an unknown field fails the request with 400), uploads
must be compiled KFP specs, and run parameters must exist in the uploaded spec with the right
type. What it does not do: run pipelines (a run's state is scripted), authentication, namespaces.
"""

from __future__ import annotations

import email.parser
import itertools
import json
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kfp_server_api
import yaml

API = "/apis/v2beta1"


class BadRequest(Exception):
    pass


def check_model(value: Any, type_name: str, where: str) -> None:
    """`value` (decoded JSON) must fit the kfp_server_api type `type_name`, field by field."""
    if type_name.startswith("list["):
        for i, item in enumerate(value):
            check_model(item, type_name[5:-1], f"{where}[{i}]")
        return
    cls = getattr(kfp_server_api, type_name, None)
    if cls is None:  # str, int, bool, datetime, dict(str, object), object
        return
    if getattr(cls, "allowable_values", None) and not getattr(cls, "attribute_map", None):
        if value not in cls.allowable_values:
            raise BadRequest(f"{where}: {value!r} is not a {type_name} ({sorted(cls.allowable_values)})")
        return
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: expected an object ({type_name})")
    by_json = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            raise BadRequest(f"{where}: {type_name} has no field {key!r}")
        check_model(item, cls.openapi_types[by_json[key]], f"{where}.{key}")


def _matches(item: dict, filter_json: str | None) -> bool:
    if not filter_json:
        return True
    for p in json.loads(filter_json).get("predicates", []):
        if p.get("operation") not in ("EQUALS", 1):
            raise BadRequest(f"filter operation {p.get('operation')!r} not supported by the double")
        if item.get(p["key"]) != p.get("stringValue", p.get("string_value")):
            return False
    return True


class FakeKfp:
    """State and routes of the double; `requests` records every call (method, path, query, body)."""

    def __init__(self, run_outcome: str = "SUCCEEDED"):
        self.ids = (f"id-{n:04d}" for n in itertools.count(1))
        # KFP stamps created_at with the server's clock; one second apart keeps the order strict
        start = datetime.now(UTC).replace(microsecond=0)
        self.clock = ((start + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%SZ") for n in itertools.count(1))
        self.pipelines: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}  # version id -> version (with its parsed spec)
        self.experiments: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}
        self.recurring: dict[str, dict] = {}
        self.run_outcome = run_outcome
        self.requests: list[tuple[str, str, dict, Any]] = []
        self.lock = threading.Lock()

    # --- routes ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any, files: dict[str, bytes]) -> Any:
        parts = path.removeprefix(API).strip("/").split("/")
        route = (method, parts[0], len(parts))
        if route == ("GET", "healthz", 1):
            return {"commit_sha": "double", "tag_name": "2.17.0-double", "multi_user": False}
        if route == ("GET", "pipelines", 1):
            return self._list("pipelines", self.pipelines.values(), query)
        if route == ("POST", "pipelines", 2) and parts[1] == "upload":
            return self._upload_pipeline(query, files)
        if route == ("POST", "pipelines", 2) and parts[1] == "upload_version":
            return self._upload_version(query, files)
        if route == ("GET", "pipelines", 3) and parts[2] == "versions":
            items = [v for v in self.versions.values() if v["pipeline_id"] == parts[1]]
            return self._list("pipeline_versions", items, query, public=_public_version)
        if route == ("GET", "experiments", 1):
            return self._list("experiments", self.experiments.values(), query)
        if route == ("POST", "experiments", 1):
            check_model(body, "V2beta1Experiment", "experiment")
            if any(e["display_name"] == body["display_name"] for e in self.experiments.values()):
                raise BadRequest(f"experiment {body['display_name']!r} exists")
            exp = {**body, "experiment_id": next(self.ids), "created_at": next(self.clock)}
            self.experiments[exp["experiment_id"]] = exp
            return exp
        if route == ("POST", "runs", 1):
            check_model(body, "V2beta1Run", "run")
            self._check_runnable(body, "run")
            run = {**body, "run_id": next(self.ids), "state": "PENDING", "created_at": next(self.clock), "polls": 0}
            self.runs[run["run_id"]] = run
            return _public_run(run)
        if route == ("GET", "runs", 2):
            run = self._get(self.runs, parts[1], "run")
            run["polls"] += 1  # scripted: running on the first poll, then the outcome
            run["state"] = "RUNNING" if run["polls"] == 1 else self.run_outcome
            return _public_run(run)
        if route == ("GET", "runs", 1):
            items = sorted(
                self.runs.values(), key=lambda r: r["created_at"], reverse="desc" in query.get("sort_by", "")
            )
            return self._list("runs", items, query, public=_public_run)
        if route == ("GET", "recurringruns", 1):
            items = [r for r in self.recurring.values() if query.get("experiment_id") in (None, r["experiment_id"])]
            return self._list("recurringRuns", items, query)
        if route == ("POST", "recurringruns", 1):
            check_model(body, "V2beta1RecurringRun", "recurring_run")
            self._check_runnable(body, "recurring_run")
            cron = body.get("trigger", {}).get("cron_schedule", {}).get("cron", "")
            if len(cron.split()) != 6:
                raise BadRequest(f"recurring_run: cron {cron!r} must have 6 fields")
            rec = {**body, "recurring_run_id": next(self.ids), "created_at": next(self.clock), "status": "ENABLED"}
            self.recurring[rec["recurring_run_id"]] = rec
            return rec
        if route == ("DELETE", "recurringruns", 2):
            # KFP 2.17.0's DeletePropagationPolicy (backend/api/v2beta1/recurring_run.proto:215-220)
            policy = query.get("propagation_policy", "DELETE_PROPAGATION_POLICY_UNSPECIFIED")
            if policy not in ("DELETE_PROPAGATION_POLICY_UNSPECIFIED", "FOREGROUND", "BACKGROUND", "ORPHAN"):
                raise BadRequest(f"propagation_policy {policy!r}")
            self._get(self.recurring, parts[1], "recurring run")
            del self.recurring[parts[1]]
            return {}
        raise LookupError(f"{method} {path}: not an endpoint of this double")

    # --- helpers --------------------------------------------------------------------------
    def _list(self, key: str, items, query: dict[str, str], public=lambda x: x) -> dict:
        selected = [public(i) for i in items if _matches(i, query.get("filter"))]
        if query.get("sort_by", "").startswith("created_at"):
            selected.sort(key=lambda i: i["created_at"], reverse=query["sort_by"].endswith("desc"))
        if query.get("page_size"):
            selected = selected[: int(query["page_size"])]
        return {key: selected, "total_size": len(selected)} if selected else {"total_size": 0}

    @staticmethod
    def _get(table: dict, key: str, what: str) -> dict:
        if key not in table:
            raise LookupError(f"no {what} {key}")
        return table[key]

    def _spec(self, files: dict[str, bytes]) -> dict:
        if "uploadfile" not in files:
            raise BadRequest("multipart field 'uploadfile' missing")
        docs = list(yaml.safe_load_all(files["uploadfile"]))
        if not docs or "pipelineInfo" not in docs[0] or docs[0].get("schemaVersion") != "2.1.0":
            raise BadRequest("uploadfile is not a KFP v2 pipeline spec (schemaVersion 2.1.0)")
        return docs[0]

    def _upload_pipeline(self, query: dict[str, str], files: dict[str, bytes]) -> dict:
        spec = self._spec(files)
        name = query.get("name") or spec["pipelineInfo"]["name"]
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise BadRequest(f"pipeline {name!r} exists")
        pipeline = {
            "pipeline_id": next(self.ids),
            "display_name": name,
            "description": query.get("description", ""),
            "created_at": next(self.clock),
        }
        self.pipelines[pipeline["pipeline_id"]] = pipeline
        self._add_version(pipeline["pipeline_id"], name, spec)  # KFP makes a first version, named like the pipeline
        return pipeline

    def _upload_version(self, query: dict[str, str], files: dict[str, bytes]) -> dict:
        spec = self._spec(files)
        pipeline_id = query.get("pipelineid", "")
        self._get(self.pipelines, pipeline_id, "pipeline")
        name = query.get("name", "")
        if any(v["display_name"] == name and v["pipeline_id"] == pipeline_id for v in self.versions.values()):
            raise BadRequest(f"version {name!r} exists")
        return _public_version(self._add_version(pipeline_id, name, spec))

    def _add_version(self, pipeline_id: str, name: str, spec: dict) -> dict:
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": next(self.ids),
            "display_name": name,
            "created_at": next(self.clock),
            "spec": spec,
        }
        self.versions[version["pipeline_version_id"]] = version
        return version

    def _check_runnable(self, body: dict, what: str) -> None:
        if body.get("experiment_id") not in self.experiments:
            raise BadRequest(f"{what}: unknown experiment_id {body.get('experiment_id')!r}")
        ref = body.get("pipeline_version_reference") or {}
        version = self.versions.get(ref.get("pipeline_version_id", ""))
        if version is None or version["pipeline_id"] != ref.get("pipeline_id"):
            raise BadRequest(f"{what}: pipeline_version_reference {ref} does not name an uploaded version")
        declared = version["spec"]["root"]["inputDefinitions"]["parameters"]
        for name, value in (body.get("runtime_config") or {}).get("parameters", {}).items():
            if name not in declared:
                raise BadRequest(f"{what}: parameter {name!r} is not an input of the pipeline")
            kind = declared[name]["parameterType"]
            ok = {
                "STRING": isinstance(value, str),
                "NUMBER_DOUBLE": isinstance(value, (int, float)),
                "NUMBER_INTEGER": isinstance(value, (int, float)) and float(value).is_integer(),
                "BOOLEAN": isinstance(value, bool),
            }.get(kind, True)
            if not ok:
                raise BadRequest(f"{what}: parameter {name!r}={value!r} is not a {kind}")


def _public_version(v: dict) -> dict:
    return {k: val for k, val in v.items() if k != "spec"}


def _public_run(r: dict) -> dict:
    return {k: val for k, val in r.items() if k != "polls"}


def _multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    message = email.parser.BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    return (
        {
            part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
            for part in message.get_payload()
        }
        if message.is_multipart()
        else {}
    )


class Server:
    """Runs a FakeKfp on 127.0.0.1 in a thread; use as a context manager; `.url` is the host."""

    def __init__(self, fake: FakeKfp):
        self.fake = fake
        fake_ref = fake

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ctype = self.headers.get("Content-Type", "")
                files = _multipart(ctype, raw) if ctype.startswith("multipart/") else {}
                body = json.loads(raw) if raw and ctype.startswith("application/json") else None
                with fake_ref.lock:
                    fake_ref.requests.append((self.command, url.path, query, body))
                    try:
                        status, payload = 200, fake_ref.handle(self.command, url.path, query, body, files)
                    except BadRequest as bad:
                        status, payload = 400, {"error": str(bad), "code": 3, "message": str(bad)}
                    except LookupError as missing:
                        status, payload = 404, {"error": str(missing), "code": 5, "message": str(missing)}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
