"""Offline checks of the deployment: manifests, image, scripts and workflows.

No machine of this project can run a kind cluster, so everything that can be checked without one
is checked here: our kustomize overlays render and validate strictly against the Kubernetes 1.32
schemas, a policy holds over every rendered object, the kind/KFP/compiled-spec settings agree with
each other, the Dockerfile installs the lock, and hadolint, shellcheck and the GitHub workflow
schema pass. `test_make_e2e_on_kind` runs the real thing where Docker and kind exist.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.config import PipelineConfig
from pipelines.runners.kubeflow import KfpTarget

REPO = Path(__file__).resolve().parent.parent
OVERLAYS = ["overlays/kind", "overlays/cloud"]
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
K8S_VERSION = "1.32.0"


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), cwd=REPO, capture_output=True, text=True, timeout=300, **kwargs)


def render(overlay: str) -> list[dict]:
    proc = run("kubectl", "kustomize", str(REPO / "kustomize" / overlay))
    assert proc.returncode == 0, f"kustomize {overlay}: {proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def pod_specs(objects: list[dict]):
    for obj in objects:
        if obj["kind"] not in POD_KINDS:
            continue
        spec = obj["spec"]
        if obj["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        yield obj["metadata"]["name"], spec if obj["kind"] == "Pod" else spec["template"]["spec"]


def by_kind(objects: list[dict], kind: str) -> dict[tuple[str, str], dict]:
    return {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects if o["kind"] == kind}


# --- manifests ----------------------------------------------------------------------------------


def test_validates_strictly_against_kubernetes_1_32(rendered, tmp_path):
    overlay, objects = rendered
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    proc = run("kubernetes-validate", "-k", K8S_VERSION, "--strict", str(path))
    assert proc.returncode == 0, f"{overlay}:\n{proc.stdout}{proc.stderr}"


def test_strict_validation_catches_an_unknown_field(tmp_path):
    objects = render("overlays/kind")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(deployment))
    proc = run("kubernetes-validate", "-k", K8S_VERSION, "--strict", str(path))
    assert proc.returncode != 0 and "imagePullPolicyy" in proc.stdout + proc.stderr


def test_policy(rendered):
    overlay, objects = rendered
    assert not [o for o in objects if o["kind"] == "Secret"], "no secrets in manifests (plain text in git)"
    specs = list(pod_specs(objects))
    assert specs, overlay
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    for name, spec in specs:
        pod_ctx = spec.get("securityContext", {})
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for c in spec.get("initContainers", []) + spec["containers"]:
            ctx = {**pod_ctx, **c.get("securityContext", {})}
            where = f"{overlay}: {name}/{c['name']}"
            assert ctx.get("runAsNonRoot") is True and ctx.get("runAsUser", 0) != 0, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            resources = c.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert {"cpu", "memory"} <= set(resources.get("limits", {})), where
            image = c["image"]
            tag = image.split("@")[0].rsplit("/", 1)[-1]
            assert ":" in tag and not tag.endswith(":latest"), f"{where}: image {image} unpinned"
            if name in deployments:  # TF Serving has no liveness probe: see kustomize/base/serving.yaml
                assert c.get("readinessProbe"), where


def test_serving_namespace_is_restricted_and_isolated(rendered):
    overlay, objects = rendered
    ns = by_kind(objects, "Namespace")[("", "openct")]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policies = by_kind(objects, "NetworkPolicy")
    deny = policies[("openct", "default-deny")]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    ports = {p["port"] for rule in policies[("openct", "tf-serving-ingress")]["spec"]["ingress"] for p in rule["ports"]}
    assert ports == {8500, 8501}


def test_pipeline_service_account_has_least_privilege(rendered):
    _, objects = rendered
    role = by_kind(objects, "Role")[("kubeflow", "openct-pipeline")]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        if rule["resources"] in (["secrets"], ["configmaps"]):
            assert rule.get("resourceNames") and rule["verbs"] == ["get"], rule
    # KFP's launcher gets its own pod (backend/src/v2/component/launcher_v2.go:583-592 at 2.17.0)
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]} in role["rules"]
    binding = by_kind(objects, "RoleBinding")[("kubeflow", "openct-pipeline")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "openct-pipeline", "namespace": "kubeflow"}]
    assert not by_kind(objects, "ClusterRoleBinding")


def test_kind_claims_bind_to_the_node_volumes():
    objects = render("overlays/kind")
    volumes = by_kind(objects, "PersistentVolume")
    claims = by_kind(objects, "PersistentVolumeClaim")
    assert len(claims) == 3
    for (namespace, name), claim in claims.items():
        volume = volumes[("", claim["spec"]["volumeName"])]
        assert volume["spec"]["claimRef"] == {"namespace": namespace, "name": name}
        assert volume["spec"]["hostPath"]["path"].startswith("/var/local/openct/")
    # The Pusher's volume and TF Serving's volume are the same node directory.
    assert (
        volumes[("", "openct-models")]["spec"]["hostPath"] == volumes[("", "openct-models-serving")]["spec"]["hostPath"]
    )


def test_cloud_overlay_has_no_volumes():
    objects = render("overlays/cloud")
    assert not by_kind(objects, "PersistentVolumeClaim") and not by_kind(objects, "PersistentVolume")
    serving = by_kind(objects, "Deployment")[("openct", "tf-serving")]
    assert any(
        a.startswith("--model_base_path=gs://") for a in serving["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    assert not by_kind(objects, "CronJob")  # the trigger reads local paths only (pipelines/triggers.py)
    accounts = by_kind(objects, "ServiceAccount")  # both identities that touch the bucket have one
    for key in (("kubeflow", "openct-pipeline"), ("openct", "tf-serving")):
        assert accounts[key]["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(
            ".iam.gserviceaccount.com"
        ), key


# --- the pieces agree with each other ------------------------------------------------------------


def test_compiled_spec_uses_the_deployed_volumes_and_image():
    target = KfpTarget()
    objects = render("overlays/kind")
    claims = by_kind(objects, "PersistentVolumeClaim")
    assert ("kubeflow", target.pipeline_pvc) in claims and ("kubeflow", target.models_pvc) in claims
    serving = by_kind(objects, "Deployment")[("openct", "tf-serving")]["spec"]["template"]["spec"]
    args = serving["containers"][0]["args"]
    # the model config file that `make deploy` starts (openct serving init) and the serving commands change
    assert "--model_config_file=/models/models.config" in args and "--model_config_file_poll_wait_seconds=30" in args
    assert "--allow_version_labels_for_unavailable_models=true" in args
    assert "--serving-mount /models" in (REPO / "Makefile").read_text()
    makefile = (REPO / "Makefile").read_text()
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    assert target.image == f"openct-pipeline:{version}"
    trigger = by_kind(objects, "CronJob")[("kubeflow", "openct-trigger")]["spec"]["jobTemplate"]["spec"]["template"][
        "spec"
    ]
    assert trigger["containers"][0]["image"] == target.image  # the image `make image` loads into kind
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in trigger["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims == {"pipeline": target.pipeline_pvc, "models": target.models_pvc}
    # the alert destinations come from the overlay's ConfigMap, under its generated name
    (source,) = trigger["containers"][0]["envFrom"]
    alerts = by_kind(objects, "ConfigMap")[("kubeflow", source["configMapRef"]["name"])]
    assert set(alerts["data"]) == {"OPENCT_ALERTMANAGER_URL", "OPENCT_ALERT_WEBHOOK_URL"}
    assert {k[len("OPENCT_") :].lower() for k in alerts["data"]} <= {f.name for f in dataclasses.fields(PipelineConfig)}
    shell, flag, script = trigger["containers"][0]["command"]
    command = shlex.split(script.split(";")[0])
    assert (shell, flag) == ("sh", "-c") and command[:6] == ["python3", "-m", "pipelines.cli", "ct", "trigger", "--kfp"]
    assert command[command.index("--serving-dir") + 1] == target.models_mount
    assert "PIPELINE_IMAGE := $(or $(IMAGE),openct-pipeline:$(VERSION_TAG))" in makefile
    assert "SERVICE_ACCOUNT ?= openct-pipeline" in makefile


def test_kind_ports_match_the_node_ports():
    cluster = yaml.safe_load((REPO / "deploy" / "kind-cluster.yaml").read_text())
    node = cluster["nodes"][0]
    assert re.fullmatch(r"kindest/node:v1\.32\.\d+@sha256:[0-9a-f]{64}", node["image"])
    mappings = {m["containerPort"]: m["hostPort"] for m in node["extraPortMappings"]}
    for patch, host_port in (("ui-nodeport.yaml", 8080), ("metadata-nodeport.yaml", 8808)):
        service = yaml.safe_load((REPO / "kustomize" / "kfp" / "patches" / patch).read_text())
        assert mappings[service["spec"]["ports"][0]["nodePort"]] == host_port
    airgapped = (REPO / "kustomize" / "kfp-airgapped" / "kustomization.yaml").read_text()
    assert "nodePort" not in airgapped  # both layers have the UI: kustomize/kfp's ui-nodeport holds for both
    serving = by_kind(render("overlays/kind"), "Service")[("openct", "tf-serving")]
    http = next(p for p in serving["spec"]["ports"] if p["name"] == "http")
    assert mappings[http["nodePort"]] == 8501
    assert node["extraMounts"][0]["containerPath"] == "/var/local/openct"


def test_kfp_layer_is_pinned():
    for path in (REPO / "kustomize" / "kfp").rglob("kustomization.yaml"):
        for resource in yaml.safe_load(path.read_text())["resources"]:
            assert resource.startswith("github.com/kubeflow/pipelines/manifests/kustomize/"), resource
            assert resource.endswith("?ref=2.17.0&timeout=300s"), resource
    patch = yaml.safe_load((REPO / "kustomize" / "kfp" / "patches" / "metadata-grpc.yaml").read_text())
    image = patch["spec"]["template"]["spec"]["containers"][0]["image"]
    assert re.fullmatch(r"gcr\.io/tfx-oss-public/ml_metadata_store_server:\d+\.\d+\.\d+", image)


# --- CPU requests against the documented 2-CPU kind node ----------------------------------------

# What a 2-CPU kind node gives pods, and what kind's system pods on our node image reserve
# (kube-apiserver 250m, kube-controller-manager 200m, etcd, kube-scheduler, two CoreDNS and the
# CNI 100m each, kube-proxy and local-path-provisioner none: 860m, read from `kubectl describe
# node` on a cluster made by `make cluster IMAGES=local`).
NODE_CPU_M = 2000
KIND_SYSTEM_CPU_M = 860
# KFP 2.17.0 as `kustomize/kfp` and `kustomize/kfp-airgapped` render it (sum of pod_cpu_m over their Deployments),
# recorded because its manifests are not in the repository; test_recorded_kfp_requests_match_a_render
# checks the figure against a render wherever KFP's manifests are at hand (KFP_MANIFESTS).
KFP_CPU_M = {"kfp": 280, "kfp-airgapped": 260}
# Per KFP 2.17.0 task: a driver pod requesting 100m (backend/src/v2/compiler/argocompiler/
# argo.go:555-564), and an executor pod whose launcher init container requests 100m (argo.go:570-578).
DRIVER_CPU_M = LAUNCHER_CPU_M = 100


def cpu_m(quantity: Any) -> int:
    text = str(quantity)
    return int(float(text[:-1])) if text.endswith("m") else int(float(text) * 1000)


def pod_cpu_m(spec: dict) -> int:
    """A pod's effective CPU request, as the scheduler counts it: the larger of its largest init
    container's and the sum of its containers' (Kubernetes' resource-management docs, "Init containers")."""

    def request(c: dict) -> int:
        return cpu_m(c.get("resources", {}).get("requests", {}).get("cpu", 0))

    return max([sum(map(request, spec["containers"]))] + [request(c) for c in spec.get("initContainers", [])])


def deployments_cpu_m(objects: list[dict]) -> int:
    return sum(
        pod_cpu_m(o["spec"]["template"]["spec"]) * o["spec"].get("replicas", 1)
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
    )


def widest_step_cpu_m(spec_path: Path) -> tuple[int, list[str]]:
    """The most CPU the compiled pipeline's tasks can request at one time: the heaviest set of
    tasks none of which depends on another (the DAG lets them all run at once), each counted as
    its driver pod plus its executor pod."""
    from tests import kfp_spec

    spec, _ = kfp_spec.load(spec_path)
    tasks = kfp_spec.root_tasks(spec)
    upstream = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}

    def ancestors(name: str) -> set[str]:
        found: set[str] = set()
        todo = list(upstream[name])
        while todo:
            up = todo.pop()
            if up not in found:
                found.add(up)
                todo += upstream[up]
        return found

    related = {n: ancestors(n) | {m for m in tasks if n in ancestors(m)} for n in tasks}
    weight = {
        n: DRIVER_CPU_M + max(LAUNCHER_CPU_M, cpu_m(kfp_spec.container_of(spec, t)["resources"]["resourceCpuRequest"]))
        for n, t in tasks.items()
    }
    best: tuple[int, list[str]] = (0, [])
    names = sorted(tasks)

    def grow(i: int, chosen: list[str], total: int) -> None:
        nonlocal best
        best = max(best, (total, list(chosen)))
        for j in range(i, len(names)):
            if not any(names[j] in related[c] for c in chosen):
                grow(j + 1, [*chosen, names[j]], total + weight[names[j]])

    grow(0, [], 0)
    return best


@pytest.mark.parametrize("layer", sorted(KFP_CPU_M))
def test_every_task_schedules_on_a_2_cpu_kind_node(layer, tmp_path):
    """On a real KFP 2.17 on kind, Transform (500m) stayed Pending for 10 minutes: "0/1 nodes are
    available: 1 Insufficient cpu". Everything that reserves CPU on the node at once must fit."""
    from tests import kfp_spec

    peak, tasks = widest_step_cpu_m(kfp_spec.compile_default(tmp_path / "pipeline.yaml"))
    objects = render("overlays/kind")
    ours = deployments_cpu_m(objects) + sum(
        pod_cpu_m(o["spec"]["jobTemplate"]["spec"]["template"]["spec"]) for o in objects if o["kind"] == "CronJob"
    )  # the trigger's Job may run beside a pipeline run
    total = KIND_SYSTEM_CPU_M + KFP_CPU_M[layer] + ours + peak
    assert total <= NODE_CPU_M, (
        f"kind {KIND_SYSTEM_CPU_M}m + KFP {KFP_CPU_M[layer]}m + openct {ours}m + widest step {peak}m "
        f"({', '.join(tasks)}) = {total}m > {NODE_CPU_M}m"
    )


@pytest.mark.parametrize("layer", sorted(KFP_CPU_M))
def test_recorded_kfp_requests_match_a_render(layer):
    rendered = REPO / "build" / "kfp" / f"{layer}.yaml"
    if not rendered.exists():
        pytest.skip(f"needs {rendered.relative_to(REPO)}: `make kfp-render KFP_LAYER={layer}` (KFP 2.17.0's manifests)")
    objects = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
    assert deployments_cpu_m(objects) == KFP_CPU_M[layer]


# Upstream's Services that our node-port patches change, field for field as KFP 2.17.0's manifests
# have them (manifests/kustomize/base/pipeline/ml-pipeline-ui-service.yaml and
# base/metadata/base/metadata-grpc-service.yaml), with the node port each patch must set.
UPSTREAM_SERVICES = {
    "ui-nodeport.yaml": (
        {"name": "ml-pipeline-ui", "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 3000}]},
        30880,
    ),
    "metadata-nodeport.yaml": (
        {"name": "metadata-grpc-service", "ports": [{"port": 8080, "protocol": "TCP", "name": "grpc-api"}]},
        30808,
    ),
}


@pytest.mark.parametrize("layer", sorted(KFP_CPU_M))
def test_rendered_kfp_layer_allocates_each_node_port_once(layer):
    """Each node port once (a real `kubectl apply` refused a second Service on the UI's port:
    "provided port is already allocated", when kfp-airgapped had no UI and gave its port to the
    API server)."""
    rendered = REPO / "build" / "kfp" / f"{layer}.yaml"
    if not rendered.exists():
        pytest.skip(f"needs {rendered.relative_to(REPO)}: `make kfp-render KFP_LAYER={layer}` (KFP 2.17.0's manifests)")
    ports = [
        p["nodePort"]
        for o in yaml.safe_load_all(rendered.read_text())
        if o and o["kind"] == "Service"
        for p in o["spec"]["ports"]
        if "nodePort" in p
    ]
    assert sorted(ports) == [30808, 30880], ports


def test_image_check_finds_the_images_a_kfp_run_needs_beyond_image_fields(tmp_path):
    """deploy/kind-images.sh lists `image:` fields and the images KFP starts later: the API
    server's V2_DRIVER_IMAGE / V2_LAUNCHER_IMAGE (manifests/kustomize/base/pipeline/
    ml-pipeline-apiserver-deployment.yaml at KFP 2.17.0) and Argo's --executor-image."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "wait", "image": "docker.io/alpine:3.23"}],
                    "containers": [
                        {
                            "name": "api",
                            "image": "ghcr.io/kubeflow/kfp-api-server:2.17.0",
                            "env": [
                                {"name": "V2_DRIVER_IMAGE", "value": "ghcr.io/kubeflow/kfp-driver:2.17.0"},
                                {"name": "V2_LAUNCHER_IMAGE", "value": "ghcr.io/kubeflow/kfp-launcher:2.17.0"},
                            ],
                        },
                        {
                            "name": "argo",
                            "image": "quay.io/argoproj/workflow-controller:v4.0.5",
                            "args": ["--executor-image", "quay.io/argoproj/argoexec:v4.0.5"],
                        },
                    ],
                }
            }
        },
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(manifest))
    proc = run(
        "deploy/kind-images.sh",
        "no-such-cluster",
        str(tmp_path / "m.yaml"),
        env={**os.environ, "OPENCT_IMAGES_CHECK": "list"},
    )
    assert proc.returncode == 0, proc.stderr
    listed = sorted(line.split()[1] for line in proc.stdout.splitlines())
    assert listed == [
        "docker.io/alpine:3.23",
        "ghcr.io/kubeflow/kfp-api-server:2.17.0",
        "ghcr.io/kubeflow/kfp-driver:2.17.0",
        "ghcr.io/kubeflow/kfp-launcher:2.17.0",
        "quay.io/argoproj/argoexec:v4.0.5",
        "quay.io/argoproj/workflow-controller:v4.0.5",
    ]


def test_metadata_server_image_tag_is_the_one_make_builds():
    component = yaml.safe_load(
        (REPO / "kustomize" / "components" / "metadata-server" / "kustomization.yaml").read_text()
    )
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
    [image] = component["images"]
    assert (image["newName"], image["newTag"]) == ("openct/metadata-server", version)
    assert "METADATA_IMAGE := openct/metadata-server:$(VERSION_TAG)" in (REPO / "Makefile").read_text()


@pytest.mark.parametrize("patch", sorted(UPSTREAM_SERVICES))
def test_node_ports_survive_kustomize_merge(patch, tmp_path):
    """kustomize merges a Service's ports on (port, protocol), and upstream's ports say
    `protocol: TCP`, so a patch entry without it is another port and the node port was dropped
    (seen on a real KFP install: the UI Service got a random port). Rendered by kustomize itself."""
    upstream, node_port = UPSTREAM_SERVICES[patch]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": upstream["name"], "namespace": "kubeflow"},
        "spec": {"ports": upstream["ports"], "selector": {"app": upstream["name"]}},
    }
    (tmp_path / "service.yaml").write_text(yaml.safe_dump(service))
    shutil.copy(REPO / "kustomize" / "kfp" / "patches" / patch, tmp_path / patch)
    (tmp_path / "kustomization.yaml").write_text(f"resources: [service.yaml]\npatches:\n  - path: {patch}\n")
    proc = run("kubectl", "kustomize", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    [rendered] = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert rendered["spec"]["type"] == "NodePort"
    assert [p.get("nodePort") for p in rendered["spec"]["ports"]] == [node_port]
    layer = yaml.safe_load((REPO / "kustomize" / "kfp" / "kustomization.yaml").read_text())
    assert {"path": f"patches/{patch}"} in layer["patches"]


# --- image, scripts, workflows ------------------------------------------------------------------


def test_dockerfile_installs_the_same_lock_as_local_runs():
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert "COPY requirements.lock /tmp/requirements.lock" in dockerfile
    assert "--no-deps -r /tmp/requirements.lock" in dockerfile
    assert '--no-deps -r "$lock"' in (REPO / "deploy" / "localenv.sh").read_text()
    # Upstream's base by digest; a machine with no registry passes its own (deploy/base-image.sh).
    assert re.search(r"^ARG BASE_IMAGE=debian:trixie-slim@sha256:[0-9a-f]{64}$", dockerfile, re.M)
    assert set(re.findall(r"^FROM (\S+)", dockerfile, re.M)) == {"${BASE_IMAGE}"}
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    assert "org.opencontainers.image.revision" in dockerfile


@pytest.mark.parametrize(
    "tool,args",
    [
        (
            "hadolint",
            [
                "deploy/Dockerfile",
                "deploy/metadata-server/Dockerfile",
                "deploy/kfp-images/images/grpcwebproxy/Dockerfile",
            ],
        ),
        (
            "shellcheck",
            [
                "deploy/localenv.sh",
                "deploy/relock.sh",
                "deploy/need.sh",
                "deploy/registry.sh",
                "deploy/docker-engine.sh",
                "deploy/base-image.sh",
                "deploy/image-build.sh",
                "deploy/kind-node/build.sh",
                "deploy/kfp-images/build.sh",
                "deploy/kfp-manifests.sh",
                "deploy/kind-images.sh",
                "deploy/metadata-server/env.sh",
                "deploy/metadata-server/with-server.sh",
                "deploy/kfp-images/images/mariadb/entrypoint.sh",
                "deploy/kfp-images/images/seaweedfs/entrypoint.sh",
                "deploy/kind-node/smoke.sh",
                "deploy/kind-node/node/entrypoint",
                "deploy/runc-boundcaps",
                "deploy/kind-node/images/cni/openct-cni",
                ".ci/run",
                "tests/ui_check/run.sh",
            ],
        ),
        (
            "check-jsonschema",
            [
                "--builtin-schema",
                "vendor.github-workflows",
                ".github/workflows/pull-request.yml",
                ".github/workflows/main.yml",
                ".github/workflows/release.yml",
            ],
        ),
    ],
)
def test_linters_pass(tool, args):
    assert shutil.which(tool), f"{tool} is pinned in requirements.lock (dev extra); is the environment current?"
    proc = run(tool, *args)
    assert proc.returncode == 0, f"{tool}:\n{proc.stdout}{proc.stderr}"


def test_make_help_documents_every_target():
    makefile = (REPO / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY: (.*?)(?<!\\)$", makefile, re.M | re.S).group(1).replace("\\\n", " ").split())
    documented = set(re.findall(r"^([a-zA-Z0-9_-]+):.*## ", makefile, re.M))
    assert phony == documented, phony ^ documented


# --- the real thing -----------------------------------------------------------------------------


@pytest.mark.cluster
@pytest.mark.skipif(
    not (shutil.which("docker") and shutil.which("kind") and os.environ.get("OPENCT_KIND_E2E")),
    reason="needs Docker and kind (make engine) and OPENCT_KIND_E2E=1 (it creates a cluster and runs for "
    "about an hour); where no registry is reachable, KFP's and Argo's images must be in the local engine "
    "first (docs/operations.md: Without a container registry)",
)
def test_make_e2e_on_kind():
    proc = subprocess.run(["make", "e2e"], cwd=REPO, timeout=3 * 3600)
    assert proc.returncode == 0
