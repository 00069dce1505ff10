# initstate: the two commands a new user needs are `make reproduce` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU wheel by default; override e.g. `make setup TORCH_SPEC="torch==2.11.0"` on a GPU box.
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= default
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# The studies come from the study folders themselves (src/replication/studies/*/__init__.py), read
# with the standard library only, so a bad PROFILE fails before set-up spends a minute.
STUDIES := $(shell PYTHONPATH=src $(PYTHON) -m replication.studies names 2>/dev/null)
ifneq ($(filter reproduce,$(MAKECMDGOALS)),)
ifeq ($(filter $(PROFILE),$(STUDIES)),)
$(error PROFILE must be one of: $(STUDIES); got '$(PROFILE)')
endif
endif
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help setup test lint reproduce smoke bench clean

help: ## list the targets and the studies
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'
	@echo "studies (make reproduce PROFILE=<name>):"
	@PYTHONPATH=src $(PYTHON) -m replication.studies list | sed 's/^/  /'

$(STAMP): pyproject.toml src/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned: an unpinned torch in a fresh venv resolves to a multi-GB CUDA build.
	$(PY) -m pip install "$(TORCH_SPEC)"
	# Two distributions, both editable: the library (src/pyproject.toml, torch only) and the
	# harness (pyproject.toml), which depends on it. The run's extras only: `make reproduce`
	# does not wait for the test tools.
	$(PY) -m pip install -e ./src -e ".[data,exp]"
	$(PY) -m replication.data.fetch
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install -e ./src -e ".[data,exp,dev]"
	touch $(DEV_STAMP)

setup: $(DEV_STAMP) ## create .venv and install the project with all extras (idempotent)

test: setup ## run the test suite
	$(PY) -m pytest -q tests

lint: setup ## run ruff
	$(VENV)/bin/ruff check src tests experiments benchmarks

# ARGS (Hydra overrides) and a study's own options (e.g. DATA=...) reach the runner through the
# environment, never through the shell: ARGS="seed='range(2)'" needs no extra quoting.
reproduce: $(STAMP) ## run a study's sweep and write results/<study>/REPORT.md (PROFILE=<study>, see make help)
	$(PY) -m replication.studies run $(PROFILE) --jobs $(JOBS)

smoke: $(STAMP) ## a 10-second smoke of the library (no claim tested)
	$(PY) -m replication.smoke

.PHONY: docs
docs: setup ## build the API site into site/ (strict: a broken reference fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: setup ## time each strategy against bare torch.nn (ratios)
	$(PY) benchmarks/overhead.py

clean: ## remove the venv and caches (keeps results/)
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs multirun
