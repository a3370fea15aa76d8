# jobc — the two commands a newcomer needs (see README.md):
#   make demo   set everything up on a fresh Debian 12 machine, then compile the bundled examples
#   make test   lint, type-check and run the whole test suite (what CI runs)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages jobc needs (later issues add skopeo, docker-registry, toolchains, …).
APT_PACKAGES := python3 python3-venv python3-dev build-essential
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup apt venv demo test lint typecheck pytest fast bench clean

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/jobc: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "jobc needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/jobc

# The main job: compile every bundled example, print its CIDs and chain.
demo: setup
	@for f in examples/*.yaml examples/*.json; do \
	  echo "== $$f"; \
	  $(BIN)/jobc explain "$$f" || exit 1; \
	done
	@echo; echo "final CIDs:"; $(BIN)/jobc cid examples/*.yaml examples/*.json

lint: venv
	$(BIN)/ruff check compiler tests bench
	$(BIN)/ruff format --check compiler tests bench

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest -q -W error

# The whole suite: what CI runs.
test: setup lint typecheck pytest

# A quick loop while developing: no slow tests.
fast: venv
	$(BIN)/pytest -q -W error -m 'not slow' -x

bench: venv
	$(BIN)/python bench/compile.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
