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
override FLAGS := $(if $(DATA_ROOT),--data-root $(abspath $(DATA_ROOT))) \
	$(if $(PIPELINE_ROOT),--pipeline-root $(abspath $(PIPELINE_ROOT))) \
	$(if $(SERVING_DIR),--serving-dir $(abspath $(SERVING_DIR)))
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

.PHONY: help env run spans schema test test-unit bench lock clean compile upload submit schedule unschedule runs

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

env: ## Build (once) and show the Python environment
	@$(ENV)
	@$(PY) -c "import tfx, tensorflow as tf, kfp; print('tfx', tfx.__version__, '| tensorflow', tf.__version__, '| kfp', kfp.__version__)"

run: ## Run the pipeline locally on the Chicago taxi spans (DATA_ROOT, PIPELINE_ROOT, SERVING_DIR)
	@$(OPENCT) run $(FLAGS) $(RUN_ARGS)

spans: ## Cut the dataset into time spans under DATA_ROOT (never rewrites a span)
	@$(OPENCT) spans $(FLAGS) $(RUN_ARGS)

schema: ## Infer a candidate schema from the spans for review (never touches the curated one)
	@$(OPENCT) schema $(FLAGS) $(RUN_ARGS)

test: ## All tests: unit and end-to-end (the command CI runs)
	@$(PY) -m pytest $(PYTEST_ARGS)

test-unit: ## Unit tests only (no end-to-end pipeline runs)
	@$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

bench: ## Benchmark against TFX's stock taxi example; writes build/bench.json
	@$(PY) -m pipelines.bench

compile: ## Compile the pipeline into a KFP v2 spec: build/pipeline.yaml (IMAGE=name:tag to override)
	@$(OPENCT) compile --out build/pipeline.yaml $(if $(IMAGE),--image $(IMAGE))

upload: compile ## Upload build/pipeline.yaml to KFP at KFP_HOST as version <commit>-<hash> (idempotent)
	@$(OPENCT) upload --spec build/pipeline.yaml

submit: ## Start a KFP run (EXPERIMENT, VERSION, PARAMS="k=v ..."; WAIT=1 follows it to the end)
	@$(OPENCT) submit $(KFP_RUN_FLAGS) $(if $(WAIT),--wait)

schedule: ## Create or replace the recurring run SCHEDULE_NAME on CRON (6 fields), VERSION or newest
	@$(OPENCT) schedule $(KFP_RUN_FLAGS) --name $(SCHEDULE_NAME) --cron "$(CRON)"

unschedule: ## Delete the recurring run SCHEDULE_NAME
	@$(OPENCT) unschedule --experiment $(EXPERIMENT) --name $(SCHEDULE_NAME)

runs: ## List recent KFP runs and their states
	@$(OPENCT) runs

lock: ## Re-resolve pyproject.toml into requirements.lock (in the target userland)
	@$(ENV) --relock

clean: ## Remove build/ (local data, artifacts, metadata, served models)
	rm -rf build
