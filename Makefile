# `make run` serves the hook, `make test` runs the whole suite, `make e2e` runs the project on a
# real control plane on 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# Metacontroller; binaries from $(E2E_BIN_DIR), default ../shared/e2e-bin), `make demo` brings
# that up for a person. All set up their own virtual environment from pyproject.toml; nothing is
# installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
HOST   ?= 127.0.0.1
# checkov, the manifest scanner tests/manifests/test_network_policy.py runs, lives in a venv of its own:
# its dependencies (botocore: python-dateutil<3) clash with requirements.lock's pins.
CHECKOV_VENV    ?= .venv-checkov
CHECKOV_VERSION := 3.3.30

.PHONY: run test lint typecheck unit bench clean e2e demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime dependencies are pinned to requirements.lock (what the image ships), so the tests run
# the same versions; its hashes are for the image build and are stripped for this editable install.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	sed -e '/--hash=/d' -e 's/[[:space:]]*\\$$//' requirements.lock > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e '.[test,bench]'
	touch $@

$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

run: $(VENV)/.installed
	PORT=$(PORT) HOST=$(HOST) $(BIN)/gunicorn -c python:hooks.gunicorn_conf hooks.sync:app

lint: $(VENV)/.installed
	$(BIN)/ruff check hooks engine_builder tests benchmarks scripts e2e_cluster
	$(BIN)/ruff format --check hooks engine_builder tests benchmarks e2e_cluster
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed
	$(BIN)/mypy hooks engine_builder e2e_cluster

# The venv's bin comes first on PATH, so a Job's command (`python3 -m engine_builder`) run as
# written by a test finds the project's interpreter.
unit: $(VENV)/.installed $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	CHECKOV="$(abspath $(CHECKOV_VENV))/bin/checkov" CHECKOV_VERSION=$(CHECKOV_VERSION) \
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

test: lint typecheck unit

# The real-control-plane suite (e2e_cluster/, not collected by `make test`). The binaries are
# unpacked once into ~/.cache/nimbuild-controller/e2e-bin and checked against SHA256SUMS; a
# missing one is a one-line message naming E2E_BIN_DIR.
e2e: $(VENV)/.installed
	$(BIN)/python -m e2e_cluster.binaries > /dev/null
	$(BIN)/python -m pytest e2e_cluster -p no:cacheprovider --durations=5

# The same machinery for a person: a NIMBuild to Ready, then KUBECONFIG printed; Ctrl-C stops.
demo: $(VENV)/.installed
	@$(BIN)/python -m e2e_cluster.binaries > /dev/null
	$(BIN)/python -m e2e_cluster.demo

# The hook against the floor app over HTTP and in-process (docs/performance.md); needs a C
# compiler for the load generator. `benchmarks/run.py --help` lists the other measurements.
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
