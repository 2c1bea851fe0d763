# knowdesk: `make run` installs and runs the quickstart on the embedded default;
# `make test` installs and runs every check. Everything installs into .venv.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# Offline by default: no model hub, no telemetry (unstructured, prefect).
export DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export UNSTRUCTURED_DISABLE_NOTICE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install run test browser lint typecheck imports pytest bench clean

$(STAMP): pyproject.toml constraints.txt packaging/en_core_web_sm/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools
	# torch first, pinned to the CPU build: otherwise pip pulls several GB of CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	# constraints.txt pins every dependency (torch included) for every later install.
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]' ./packaging/en_core_web_sm
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/knowdesk quickstart

test: install browser lint typecheck imports pytest

# The portal's browser test drives Debian's chromium; installed when missing and running as root
# (otherwise the test fails with a message saying what to install).
browser:
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update && apt-get install -y chromium)

lint:
	$(BIN)/ruff check .

typecheck:
	$(BIN)/mypy core ingest retrieval training helpcenter agent csat actions insights evaluation app flows service

imports:
	$(BIN)/lint-imports

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .knowdesk .pytest_cache .mypy_cache .ruff_cache
