# rtguard: `make demo` runs the demo, `make test` runs every check. Both install what they need.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
PIP   := $(VENV)/bin/pip
BPF_OBJ := src/rtguard/agent/sensors/bpf/rtguard.bpf.o
APT_PKGS := clang llvm libbpf-dev bpftool runc busybox-static dnsmasq-base iproute2 procps gzip chromium postgresql nats-server

.PHONY: help deps sysdeps pydeps bpf lint typecheck test test-fast demo bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

sysdeps: ## Debian packages: BPF toolchain, runc, test DNS, PostgreSQL and nats-server for the scale-out tests (needs root)
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $@

pydeps: $(VENV)/.installed ## Python packages in a virtual environment

deps: sysdeps pydeps bpf ## Everything

bpf: sysdeps ## Build the CO-RE eBPF object
	$(MAKE) -C bpf OUT=$(abspath $(BPF_OBJ))

lint: pydeps ## ruff lint and format check
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: pydeps ## mypy --strict
	$(VENV)/bin/mypy

test: deps lint typecheck ## Lint, type-check and run every test tier
	$(VENV)/bin/pytest -q -p no:cacheprovider

demo: deps ## Server + agent + harmless attacks in real containers; prints findings
	$(VENV)/bin/rtguard demo --once

bench: deps ## Benchmarks (numbers for the notes)
	$(PY) bench/exec_storm.py

clean:
	rm -rf build $(BPF_OBJ) .mypy_cache .ruff_cache
