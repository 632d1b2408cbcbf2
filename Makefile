# netobs.cilium - developer entry points.  `make test` is what CI runs (.ci/run).
#
# Needs only Python 3.11, pip and a reachable package index. Everything else is installed here:
#   .venv/                              pinned test tooling (requirements-dev.txt)
#   .cache/collections/                 kubernetes.core (Galaxy, else the pinned `ansible` wheel on PyPI)
#                                       + netobs/cilium -> this checkout (symlink, for ansible and pytest)
#   ~/.cache/netobs-cilium/sanity/      real copy of the collection for ansible-test (see scripts/sanity_tree.py)

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
COLLECTIONS := .cache/collections
# The community `ansible` package that bundles kubernetes.core 6.x (used only when Galaxy is unreachable).
ANSIBLE_WHEEL_VERSION ?= 12.3.0
GALAXY_TIMEOUT ?= 20
GATE_JOBS ?= 2

VENV_STAMP := $(VENV)/.installed
KCORE_STAMP := $(COLLECTIONS)/ansible_collections/kubernetes/core/MANIFEST.json
SELF_LINK := $(COLLECTIONS)/ansible_collections/netobs/cilium

export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export ANSIBLE_NOCOLOR := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help deps system-deps test sanity lint unit pytest syntax yamllint bench-flows bench-events e2e demo demo-screenshot clean \
	cluster cluster-down cluster-status cluster-images e2e-local

help: ## Show the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(VENV_STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(KCORE_STAMP): requirements.yml $(VENV_STAMP)
	$(BIN)/python scripts/get_kubernetes_core.py $(COLLECTIONS) $(ANSIBLE_WHEEL_VERSION) $(GALAXY_TIMEOUT)
	touch $@

$(SELF_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

deps: $(VENV_STAMP) $(KCORE_STAMP) $(SELF_LINK) system-deps ## Create .venv, install pinned tooling and kubernetes.core

# Debian packages the tests use: chromium (the HTML report is opened headless to prove no script runs) and
# jq (the baseline of the flow benchmark). Installed with apt-get when running as root, else named.
SYSTEM_PACKAGES := chromium jq
system-deps: ## Install the Debian packages the tests need (chromium, jq) when missing
	@missing=""; for tool in $(SYSTEM_PACKAGES); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null; \
	  else \
	    echo "warning: missing$$missing; install with: sudo apt-get install$$missing (browser tests fail without chromium unless NETOBS_SKIP_BROWSER_TESTS=1)" >&2; \
	  fi; \
	fi

test: deps ## Run every gate (sanity, lint, pytest, syntax, yamllint); non-zero if any fails
	$(BIN)/python scripts/gates.py --jobs $(GATE_JOBS) all

sanity: deps ## ansible-test sanity (all tests, no ignore file)
	$(BIN)/python scripts/gates.py sanity

lint: deps ## ansible-lint, production profile, offline
	$(BIN)/python scripts/gates.py lint

unit: deps ## pytest over tests/ (unit + integration)
	$(BIN)/python scripts/gates.py pytest

pytest: unit

syntax: deps ## ansible-playbook --syntax-check and molecule syntax
	$(BIN)/python scripts/gates.py syntax

yamllint: deps ## yamllint on the repository's YAML
	$(BIN)/python scripts/gates.py yamllint

demo: deps ## The main job: a compliance run over the shipped capture of the reference experiment -> reports/
	$(BIN)/python scripts/demo.py

demo-screenshot: deps ## Refresh the README image docs/images/demo-report.png (needs headless Chromium)
	$(BIN)/python scripts/demo.py --screenshot docs/images/demo-report.png

e2e: deps ## End to end on kind (needs docker, kind, helm, kubectl): molecule test -s kind
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/e2e_preflight.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/molecule test -s kind

# A real single-node Kubernetes + Cilium built from upstream sources (Go module proxy + Debian), as host
# processes; root only. Binaries and images are cached in ~/.cache/netobs-cluster (see docs/e2e.md).
CLUSTER := python3 tests/cluster/cluster.py

cluster: ## Real single-node Kubernetes + Cilium from upstream sources (root; cold ~40 min, warm ~2 min)
	$(CLUSTER) up

cluster-down: ## Stop every process make cluster started; remove its mounts, netns, interfaces, chains
	$(CLUSTER) down

cluster-status: ## Which cluster processes run; where the kubeconfig is
	$(CLUSTER) status

cluster-images: ## Only build (cache) the cluster's binaries and images
	$(CLUSTER) images

e2e-local: deps ## End to end on the real cluster of make cluster: molecule test -s local -> reports/e2e-local/summary.json
	$(BIN)/python scripts/e2e_local.py

bench-flows: deps ## Benchmark: capture parse+aggregate, and the module end to end, vs jq (LINES=1000000)
	$(BIN)/python tests/perf/bench_flows.py --lines $(or $(LINES),1000000) --e2e

bench-events: deps ## Benchmark: drop_events_info vs kubectl on 200k Events; peak memory of an offline Events file, streamed vs whole
	$(BIN)/python tests/perf/bench_events_file.py
	$(BIN)/python tests/perf/bench_drop_events.py

clean: ## Remove the virtualenv, caches, build output and reports
	rm -rf $(VENV) .cache build dist reports tests/output .pytest_cache .hypothesis netobs-cilium-*.tar.gz
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
