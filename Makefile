# Siaga 112. Two commands on a fresh Debian/Ubuntu machine:
#   make demo   - installs what is missing, then runs broker + fleet server + simulated city
#   make test   - installs what is missing, then runs the whole test suite
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# System packages the project runs against (real parts, not mocks). libatomic1: the node inside
# the playwright wheel needs it, and a minimal Debian lacks it. systemd: systemd-analyze verify
# checks deploy/systemd (a container image may lack it). patroni, etcd-server, python3-etcd: the
# database cluster (siaga db cluster); python3-pysyncobj: its --dcs raft (Patroni's built-in Raft).
# nats-server, haproxy: the clustered broker (fleet_server/broker/nats_cluster.py).
APT_PACKAGES := mosquitto mosquitto-clients postgresql patroni etcd-server python3-etcd python3-pysyncobj socat victoria-metrics chromium fonts-dejavu-core libatomic1 nginx prometheus systemd haproxy nats-server
# Test workers (pytest-xdist), each test file on one of them: most tests wait on real processes.
TEST_JOBS ?= 3
SYSTEM_STAMP := $(VENV)/.system-packages
PYTHON_STAMP := $(VENV)/.python-packages

.PHONY: demo test bench setup system python clean
.DEFAULT_GOAL := help

help:
	@echo "make demo    broker, fleet server and the simulated city of Bandung (console URL printed)"
	@echo "make test    the whole test suite on real parts (Mosquitto, MicroPython, SQLite, PostgreSQL)"
	@echo "make bench   benchmarks -> bench/results/*.json and bench/report/"

setup: $(SYSTEM_STAMP) $(PYTHON_STAMP)

$(SYSTEM_STAMP):
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; echo "Using sudo to install system packages."; fi; \
	  echo "Installing system packages:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# npm vendors the console's map library (Leaflet) from the npm registry at build time.
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  echo "Installing npm (to vendor Leaflet for the console)"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends npm; \
	fi
	@# The packaged services must not hold our ports or data: the project starts its own.
	@for s in mosquitto postgresql patroni etcd victoria-metrics nginx prometheus nats-server haproxy; do \
	  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet $$s 2>/dev/null; then \
	    echo "Note: system service $$s is running; Siaga starts its own instances on free ports."; fi; done
	@mkdir -p $(VENV) && touch $@

$(PYTHON_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m fleet_server.console.vendor
	@touch $@

demo: setup
	$(BIN)/siaga demo

test: setup
	$(BIN)/python -m pytest -n $(TEST_JOBS) --dist loadfile

bench: setup
	$(BIN)/python -m simulators.bench

clean:
	rm -rf run bench/results bench/report .pytest_cache
