# initstate: the two commands a new user needs are `make reproduce` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A CPU wheel by default; override e.g. `make setup TORCH_SPEC="torch==2.11.0"` on a GPU box.
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= default
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# A profile's sweep directory is named after its first experiment; later ones add runs to it.
EXPERIMENT_default := reproduce reproduce_more_seeds
EXPERIMENT_full := reproduce_full
EXPERIMENT_r2rt := r2rt
EXPERIMENT_r2rt_cpu := r2rt_cpu
# The noise study adds its sigma grid to the default sweep: finished default runs are reused.
EXPERIMENT_noise := noise_scale_base noise_scale
SWEEP_noise := reproduce
EXPERIMENT_conditioned := data_conditioned data_conditioned_warmup
PROFILES := default full r2rt r2rt_cpu noise conditioned
EXPERIMENT = $(EXPERIMENT_$(PROFILE))
# Where a profile's report goes: results/<name>, the profile's own name unless set here.
RESULTS_noise := noise_scale
RESULTS = results/$(or $(RESULTS_$(PROFILE)),$(PROFILE))
# The sweep a profile writes: sweeps/<sweep_name>, its first experiment's name unless set here.
SWEEP = sweeps/$(or $(SWEEP_$(PROFILE)),$(firstword $(EXPERIMENT)))
# Checked when the Makefile is read, so a bad PROFILE fails before set-up spends a minute.
ifneq ($(filter reproduce,$(MAKECMDGOALS)),)
ifeq ($(EXPERIMENT),)
$(error PROFILE must be one of: $(PROFILES); got '$(PROFILE)')
endif
endif
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help setup test lint reproduce smoke bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

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

reproduce: $(STAMP) ## run a profile's sweep (PROFILE=default|full|r2rt|r2rt_cpu|noise|conditioned) and write results/<profile>/REPORT.md
	@start=$$(date +%s); \
	for e in $(EXPERIMENT); do \
		$(PY) experiments/train.py experiment=$$e hydra.launcher.n_jobs=$(JOBS) $(ARGS) || exit $$?; \
	done && \
	$(PY) experiments/analyze.py $(SWEEP) $(RESULTS) --profile $(PROFILE) \
		--sweep-seconds $$(( $$(date +%s) - start )) \
		--command "make reproduce PROFILE=$(PROFILE) JOBS=$(JOBS) $(ARGS)"

smoke: $(STAMP) ## a 10-second smoke of the library (no claim tested)
	$(PY) -m replication.smoke

.PHONY: docs
docs: setup ## build the API site into site/ (strict: a broken reference fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: setup ## time each strategy against bare torch.nn (ratios)
	$(PY) benchmarks/overhead.py

clean: ## remove the venv and caches (keeps results/)
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs multirun
