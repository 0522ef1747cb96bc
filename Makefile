# openct: one TFX pipeline for continuous training, locally and on Kubeflow Pipelines.
# Every Python command runs through deploy/localenv.sh, which builds (once) and enters the pinned
# environment: a venv where the host can take the TFX 1.21 wheels, else a Debian 13 userland.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENV := deploy/localenv.sh
PY := $(ENV) python
OPENCT := $(PY) -m pipelines.cli

# Optional overrides: make run DATA_ROOT=/data/taxi PIPELINE_ROOT=... SERVING_DIR=...
DATA_ROOT ?=
PIPELINE_ROOT ?=
SERVING_DIR ?=
RUN_ARGS ?=
PYTEST_ARGS ?=
# `make test LINT=no`: the tests without the lint step (CI steps after a `make lint` step)
LINT ?= yes
LINT_FIRST := $(if $(filter no,$(LINT)),,lint)
override FLAGS := $(if $(DATA_ROOT),--data-root $(abspath $(DATA_ROOT))) \
	$(if $(PIPELINE_ROOT),--pipeline-root $(abspath $(PIPELINE_ROOT))) \
	$(if $(SERVING_DIR),--serving-dir $(abspath $(SERVING_DIR)))
override DATA_FLAG := $(if $(DATA_ROOT),--data-root $(abspath $(DATA_ROOT)))
# Paths outside the repository must be visible inside the Debian 13 userland.
export OPENCT_BIND := $(abspath $(DATA_ROOT) $(PIPELINE_ROOT) $(SERVING_DIR))

# Kubeflow Pipelines: make compile upload submit WAIT=1 PARAMS="train_steps=500 window_spans=4"
# KFP_HOST (environment or make KFP_HOST=...) defaults to http://localhost:8080, the port-forwarded UI.
IMAGE ?=
EXPERIMENT ?= openct
VERSION ?=
PARAMS ?=
WAIT ?=
SCHEDULE_NAME ?= openct-nightly
CRON ?= 0 0 2 * * *
export OPENCT_GIT_COMMIT := $(shell git rev-parse --short=10 HEAD 2>/dev/null)
override KFP_RUN_FLAGS := --experiment $(EXPERIMENT) $(if $(VERSION),--version $(VERSION)) $(foreach p,$(PARAMS),--param $(p))

# kind deployment: make e2e (cluster kfp image deploy upload test-e2e-cluster serve-test schedule)
KIND_CLUSTER := openct
KIND_VOLUMES := $(abspath build/kind-volumes)
VERSION_TAG := $(shell sed -nE 's/^version = "([^"]+)"/\1/p' pyproject.toml)
PIPELINE_IMAGE := $(or $(IMAGE),openct-pipeline:$(VERSION_TAG))
SERVICE_ACCOUNT ?= openct-pipeline
PVC ?= yes
NEED := deploy/need.sh
# Images: `upstream` pulls kindest/node and the Dockerfile's debian base; `local` builds them here
# from package registries (deploy/base-image.sh, deploy/kind-node/build.sh: no container registry
# needed); `auto` picks local when Docker cannot pull the pinned base (deploy/registry.sh).
IMAGES ?= auto
LOCAL_IMAGES = $(or $(filter local,$(IMAGES)),$(if $(filter auto,$(IMAGES)),$(shell deploy/registry.sh >/dev/null 2>&1 || echo local)))
KIND_VERSION := v0.31.0
# KFP layer: upstream's images (kustomize/kfp), or where they cannot be pulled, kustomize/kfp-airgapped
# (the third-party images built here by `make kfp-images`; KFP's and Argo's own must be in the engine).
KFP_LAYER ?= $(if $(LOCAL_IMAGES),kfp-airgapped,kfp)
# KFP 2.17.0's manifests/kustomize directory, when github.com is not reachable (deploy/kfp-manifests.sh)
export KFP_MANIFESTS
METADATA_IMAGE := openct/metadata-server:$(VERSION_TAG)
METADATA_PORT := 8808
# The volume directories that pods (uid 10001) write into: created world-writable, and only they
# are touched (pods own what they write below them; a recursive chmod fails on it for a
# non-root user). Spans cut by `make deploy` are world-readable (umask 022), which pods need.
MAKE_VOLUMES := for d in $(KIND_VOLUMES) $(KIND_VOLUMES)/pipeline $(KIND_VOLUMES)/pipeline/data $(KIND_VOLUMES)/models; do \
	[ -d $$d ] || install -d -m 0777 $$d; done
# TF Serving loads a version within --file_system_poll_wait_seconds (30 s) of a push; before the
# first push it is never Ready (kustomize/base/serving.yaml).
SERVING_WAIT ?= 600s

.PHONY: help env run spans schema test lint format docs test-cluster test-unit bench bench-scale replay crash-matrix lock clean compile upload submit schedule unschedule runs \
	engine cluster kfp-render kfp kfp-images metadata-image image deploy ui ui-check serve-test e2e test-e2e-cluster kfp-timings status \
	trigger-on trigger-off down

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

env: ## Build (once) and show the Python environment
	@$(ENV)
	@$(PY) -c "import tfx, tensorflow as tf, kfp; print('tfx', tfx.__version__, '| tensorflow', tf.__version__, '| kfp', kfp.__version__)"

run: ## Run the pipeline locally on the Chicago taxi spans (DATA_ROOT, PIPELINE_ROOT, SERVING_DIR)
	@$(OPENCT) local run $(FLAGS) $(RUN_ARGS)

spans: ## Cut the dataset into time spans under DATA_ROOT (never rewrites a span)
	@$(OPENCT) data spans $(DATA_FLAG) $(RUN_ARGS)

schema: ## Infer a candidate schema from the spans for review (never touches the curated one)
	@$(OPENCT) data schema $(DATA_FLAG) $(if $(PIPELINE_ROOT),--pipeline-root $(abspath $(PIPELINE_ROOT))) $(RUN_ARGS)

# The tests run beside openct's ML Metadata gRPC server (its own Python 3.11 env), on a free port.
WITH_METADATA_SERVER := deploy/metadata-server/with-server.sh
# tests/test_alerts.py runs a real Prometheus Alertmanager, built once on the host from the Go
# module proxy (deploy/alertmanager.sh, needs Go) and bound into the environment; without Go the
# script says so and that test skips, naming the reason.
ALERTMANAGER_ENV = am=$$(deploy/alertmanager.sh) && export OPENCT_ALERTMANAGER=$$am OPENCT_BIND="$$OPENCT_BIND $$(dirname $$am)";

test: $(LINT_FIRST) ## Lint, then all tests: unit and end-to-end (the command CI runs)
	@$(ALERTMANAGER_ENV) $(WITH_METADATA_SERVER) $(PY) -m pytest $(PYTEST_ARGS)
	@tests/ui_check/run.sh --self-test

lint: ## Style and structure: ruff (lint, format), mypy, import contracts (pyproject.toml)
	@$(ENV) ruff check --quiet
	@$(ENV) ruff format --check --quiet
	@$(ENV) mypy --no-error-summary
	@out=$$($(ENV) lint-imports --no-cache 2>&1) || { echo "$$out" >&2; exit 1; }
	@echo "lint: ruff, ruff format, mypy and import contracts pass"

format: ## Apply ruff's fixes and formatting
	@$(ENV) ruff check --fix --quiet
	@$(ENV) ruff format --quiet

docs: ## Regenerate docs/configuration.md from the configuration object
	@$(PY) -m pipelines.cli.docs > build/configuration.md.tmp && mkdir -p docs && mv build/configuration.md.tmp docs/configuration.md && echo "wrote docs/configuration.md"

test-cluster: ## Tests marked cluster: the spec in the pipeline image, as pods on kind, on KFP at KFP_HOST
	@OPENCT_BIND="$(OPENCT_BIND) $(HOME)/.kube" $(PY) -m pytest -m cluster -s -rs $(PYTEST_ARGS)

test-unit: $(LINT_FIRST) ## Lint, then the unit tests only (no end-to-end pipeline runs)
	@$(ALERTMANAGER_ENV) $(WITH_METADATA_SERVER) $(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

crash-matrix: ## kill -9 a local run during each heavy node, then rerun; the disk filling (tests/test_crash_matrix.py; about 5 min)
	@OPENCT_CRASH_MATRIX=1 $(PY) -m pytest -s -rs tests/test_crash_matrix.py $(PYTEST_ARGS)

replay: ## Replay the taxi spans one at a time with trigger (a corrupted and a drifted span); timeline PNG
	@$(OPENCT) ct replay $(RUN_ARGS)

bench: ## Benchmark against TFX's stock taxi example; writes build/bench.json
	@$(PY) -m pipelines.bench

SCALE ?= 1,10,100
bench-scale: ## Cost against data size, ours and stock (SCALE=1,10,100: 17 min once written; +3 min the first time); build/bench-scale.*
	@mkdir -p $(HOME)/.cache/openct/bench-scale
	@OPENCT_BENCH_CACHE=$(HOME)/.cache/openct/bench-scale OPENCT_BIND="$(OPENCT_BIND) $(HOME)/.cache/openct/bench-scale" \
	  $(PY) -m pipelines.bench_scale --scale $(SCALE)

compile: ## Compile the pipeline into a KFP v2 spec: build/pipeline.yaml (IMAGE=name:tag, PVC=no for gs://)
	@$(OPENCT) kfp compile --out build/pipeline.yaml --image $(PIPELINE_IMAGE) $(if $(filter no,$(PVC)),--no-pvc)

upload: compile ## Upload build/pipeline.yaml to KFP at KFP_HOST as version <commit>-<hash> (idempotent)
	@$(OPENCT) kfp upload --spec build/pipeline.yaml

submit: ## Start a KFP run (EXPERIMENT, VERSION, PARAMS="k=v ..."; WAIT=1 follows it to the end)
	@$(OPENCT) kfp submit $(KFP_RUN_FLAGS) --service-account $(SERVICE_ACCOUNT) $(if $(WAIT),--wait)

schedule: ## Create or replace the recurring run SCHEDULE_NAME on CRON (6 fields), VERSION or newest
	@$(OPENCT) kfp schedule $(KFP_RUN_FLAGS) --service-account $(SERVICE_ACCOUNT) --name $(SCHEDULE_NAME) --cron "$(CRON)"

unschedule: ## Delete the recurring run SCHEDULE_NAME
	@$(OPENCT) kfp unschedule --experiment $(EXPERIMENT) --name $(SCHEDULE_NAME)

runs: ## List recent KFP runs and their states
	@$(OPENCT) kfp runs

engine: ## Docker engine (docker.io from Debian, started if none answers) and kind (go install, pinned)
	@deploy/docker-engine.sh
	@command -v kind >/dev/null || { echo "installing kind $(KIND_VERSION) with go install"; go install sigs.k8s.io/kind@$(KIND_VERSION); }

cluster: ## Create the kind cluster 'openct' (Kubernetes 1.32, ports 8080 and 8501, build/kind-volumes; IMAGES)
	@$(NEED) docker kind kubectl
	@$(MAKE_VOLUMES)
	@sed 's|KIND_VOLUMES|$(KIND_VOLUMES)|' deploy/kind-cluster.yaml > build/kind-cluster.yaml
	@if [ -n "$(LOCAL_IMAGES)" ]; then node=$$(deploy/kind-node/build.sh) && \
	  sed -i "s#^\(\s*image:\) kindest/node:.*#\1 $$node#" build/kind-cluster.yaml && echo "node image (built here): $$node"; fi
	@if kind get clusters | grep -qx $(KIND_CLUSTER); then echo "kind cluster '$(KIND_CLUSTER)' exists"; \
	else kind create cluster --config build/kind-cluster.yaml --wait 180s; fi

kfp-render: ## Render KFP 2.17.0 (kustomize/KFP_LAYER) into build/kfp/; KFP_MANIFESTS=DIR: from a local copy
	@deploy/kfp-manifests.sh kfp/cluster-scoped build/kfp/cluster-scoped.yaml
	@deploy/kfp-manifests.sh $(KFP_LAYER) build/kfp/$(KFP_LAYER).yaml

kfp: kfp-render ## Install KFP 2.17.0 (KFP_LAYER) after checking its images are at hand; wait until ready
	@$(NEED) kubectl cluster
	@deploy/kind-images.sh $(KIND_CLUSTER) build/kfp/cluster-scoped.yaml build/kfp/$(KFP_LAYER).yaml
	kubectl apply -f build/kfp/cluster-scoped.yaml
	kubectl wait --for condition=established --timeout=120s crd/applications.app.k8s.io
	kubectl apply -f build/kfp/$(KFP_LAYER).yaml
	kubectl -n kubeflow wait --for=condition=Available --timeout=1200s deployment --all
	@echo "KFP is ready: http://localhost:8080 (the UI, and the API behind it)"

kfp-images: ## Build the images kfp-airgapped names under our names (database, object store, shell, ML Metadata)
	@$(NEED) docker
	@deploy/kfp-images/build.sh
	@$(MAKE) --no-print-directory metadata-image

image: ## Build the pipeline image (deploy/Dockerfile, from requirements.lock) and load it into kind (IMAGES)
	@$(NEED) docker kind
	docker build -f deploy/Dockerfile -t $(PIPELINE_IMAGE) --build-arg VERSION=$(VERSION_TAG) \
	  --build-arg REVISION=$(OPENCT_GIT_COMMIT) $(if $(LOCAL_IMAGES),--build-arg BASE_IMAGE=$$(deploy/base-image.sh)) .
	kind load docker-image $(PIPELINE_IMAGE) --name $(KIND_CLUSTER)

deploy: ## Apply our layer (volumes, RBAC, TF Serving: kustomize/overlays/kind); cut spans onto the data volume
	@$(NEED) kubectl cluster
	@$(MAKE_VOLUMES)
	kubectl apply -k kustomize/overlays/kind
	@$(OPENCT) data spans --data-root $(KIND_VOLUMES)/pipeline/data
	@# TF Serving's --model_config_file (kustomize/base/serving.yaml) must exist when it starts
	@$(OPENCT) serving init --serving-dir $(KIND_VOLUMES)/models --serving-mount /models

ui: ## Show the KFP UI address (port-forward it when the kind port mapping is not there)
	@$(NEED) kubectl cluster
	@if curl -fsS -o /dev/null http://localhost:8080/apis/v2beta1/healthz; then echo "KFP UI: http://localhost:8080"; \
	else echo "port-forwarding the KFP UI to http://localhost:8080 (Ctrl-C to stop)"; \
	kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80; fi

ui-check: ## The KFP UI in headless Chromium, as a user sees it (UI=URL, default localhost:8080); screenshots in build/ui-check
	@tests/ui_check/run.sh --ui $(or $(UI),http://localhost:8080) --out $(or $(UI_CHECK_OUT),build/ui-check)

serve-test: ## Predictions from TF Serving (localhost:8501) on real rows of the newest span
	@$(NEED) kubectl cluster
	kubectl -n openct wait --for=condition=Available --timeout=$(SERVING_WAIT) deployment/tf-serving
	@$(OPENCT) serving predict --url http://localhost:8501 --data-root $(KIND_VOLUMES)/pipeline/data \
		--serving-dir $(KIND_VOLUMES)/models  # request logs beside the models: the CronJob checks skew

e2e: ## All of it on kind: cluster, KFP, image, deploy, upload, the scenarios of tests/test_kfp_e2e.py, ui-check
	$(MAKE) cluster $(if $(filter kfp-airgapped,$(KFP_LAYER)),kfp-images) kfp image deploy upload
	$(MAKE) test-e2e-cluster
	@# TF Serving's image is in no package registry: without a container registry there is no serving to test
	$(MAKE) $(if $(LOCAL_IMAGES),,serve-test) schedule trigger-on runs ui-check

test-e2e-cluster: ## The cluster scenarios against the deployed KFP (tests/test_kfp_e2e.py; about 31 min)
	@OPENCT_BIND="$(KIND_VOLUMES) $(HOME)/.kube" OPENCT_KIND_VOLUMES=$(KIND_VOLUMES) KFP_HOST=$${KFP_HOST:-http://localhost:8080} \
	  OPENCT_METADATA=grpc://localhost:$(METADATA_PORT) $(PY) -m pytest -m cluster -s -rs tests/test_kfp_e2e.py $(PYTEST_ARGS)

metadata-image: ## Build openct's ML Metadata gRPC server image (deploy/metadata-server; Debian 12 base where no registry)
	@$(NEED) docker
	docker build -f deploy/metadata-server/Dockerfile -t $(METADATA_IMAGE) \
	  $(if $(LOCAL_IMAGES),--build-arg BASE_IMAGE=$$(deploy/base-image.sh bookworm)) deploy/metadata-server

kfp-timings: ## Where a finished KFP run's time went, per task (RUN=id, default the newest); build/kfp-timings.json
	@OPENCT_BIND="$(HOME)/.kube" $(OPENCT) kfp timings $(if $(RUN),--run $(RUN)) --json build/kfp-timings.json

status: ## Models and runs from the kind cluster's ML Metadata (openct ct status and ct history)
	@$(OPENCT) ct status --metadata grpc://localhost:$(METADATA_PORT) --serving-dir $(KIND_VOLUMES)/models \
	  --artifacts-at /mnt/openct=$(KIND_VOLUMES)/pipeline
	@$(OPENCT) ct history --metadata grpc://localhost:$(METADATA_PORT)

trigger-on: ## Let the trigger CronJob start runs (it is deployed suspended; after `make upload`)
	@$(NEED) kubectl cluster
	kubectl -n kubeflow patch cronjob openct-trigger --type merge -p '{"spec":{"suspend":false}}'

trigger-off: ## Suspend the trigger CronJob (no new runs from it; a running one finishes)
	@$(NEED) kubectl cluster
	kubectl -n kubeflow patch cronjob openct-trigger --type merge -p '{"spec":{"suspend":true}}'

down: ## Delete the kind cluster (build/kind-volumes, with spans and models, is kept)
	@$(NEED) kind
	kind delete cluster --name $(KIND_CLUSTER)

lock: ## Re-resolve pyproject.toml into requirements.lock (in the target userland)
	@$(ENV) --relock

clean: ## Remove build/ (local data, artifacts, metadata, served models)
	rm -rf build
