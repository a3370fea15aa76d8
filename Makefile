# jobc — the two commands a newcomer needs (see README.md):
#   make demo   set everything up on a fresh Debian 12 machine, then compile the bundled examples
#   make test   lint, type-check and run the whole test suite (what CI runs)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages jobc needs: skopeo resolves image tags (resolve-images); tests and the
# demo run docker-registry on 127.0.0.1 with images built offline (tests/localregistry.py).
# The lower pass compiles Rust (rustc, its wasm32-wasi std, lld) and C (clang, wasi-libc,
# clang's wasm32 builtins) to WASM, inside a bubblewrap sandbox (docs/runtime.md).
# postgresql: the store's second backend; tests run their own cluster (tests/localpostgres.py).
APT_PACKAGES := python3 python3-venv python3-dev build-essential skopeo docker-registry \
  rustc libstd-rust-dev-wasm32 lld clang wasi-libc libclang-rt-14-dev-wasm32 bubblewrap \
  postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup apt venv js demo test lint typecheck pytest fast bench clean

setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing && \
	  case " $$missing " in *" docker-registry "*) \
	    if [ -d /run/systemd/system ]; then \
	      echo "stopping the docker-registry service Debian starts (it listens on every interface; jobc runs its own)"; \
	      $(SUDO) systemctl disable --now docker-registry || true; \
	    fi;; \
	  esac; \
	  case " $$missing " in *" postgresql "*) \
	    if [ -d /run/systemd/system ]; then \
	      echo "stopping the PostgreSQL cluster Debian starts (tests and benchmarks run their own)"; \
	      $(SUDO) systemctl disable --now postgresql || true; \
	    fi;; \
	  esac; \
	fi

$(BIN)/jobc: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "jobc needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

venv: $(BIN)/jobc

# The main job: compile every bundled example, print its CIDs and chain, and run the Rust,
# C and WAT ones. Image tags are resolved against a local registry (127.0.0.1, a free
# port) that holds small images built offline under the examples' names, so the demo
# needs no internet.
demo: setup
	@$(BIN)/python -m tests.localregistry run -- bash -c '\
	  for f in examples/*.yaml examples/*.json; do \
	    echo "== $$f"; \
	    $(BIN)/jobc explain "$$f" || exit 1; \
	  done; \
	  echo; echo "final CIDs:"; $(BIN)/jobc cid examples/*.yaml examples/*.json; \
	  for f in examples/rust-word-count.yaml examples/c-crc32-tool.yaml examples/wasm-wat-uppercase.yaml; do \
	    echo; echo "== jobc run $$f (twice: the second reuses the receipt)"; \
	    $(BIN)/jobc run "$$f" && $(BIN)/jobc run "$$f" >/dev/null || exit 1; \
	  done'

lint: venv
	$(BIN)/ruff check compiler tests bench
	$(BIN)/ruff format --check compiler tests bench

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest -q -W error

# The whole suite: what CI runs.
# The independent UnixFS importer (npm) the content-hashing tests compare CIDs with,
# installed from tests/js/package-lock.json into tests/js/node_modules.
JS := tests/js
js: $(JS)/node_modules/.package-lock.json

$(JS)/node_modules/.package-lock.json: $(JS)/package.json $(JS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian packages: nodejs npm"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; }
	npm ci --prefix $(JS) --no-audit --no-fund --loglevel=error

test: setup js lint typecheck pytest

# A quick loop while developing: no slow tests.
fast: venv
	$(BIN)/pytest -q -W error -m 'not slow' -x

bench: venv js
	$(BIN)/python bench/compile.py
	$(BIN)/python bench/hash.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/gateway.py
	$(BIN)/python bench/store.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
