# actix-socketio: the project's one test command is `make test`.
#
#   make test          lint, Rust tests, the real-client suites (JS + Python), the cluster test,
#                      the browser test
#   make lint          cargo fmt --check and clippy with warnings as errors
#   make engine-alone  the Engine.IO layer built and unit-tested as a crate of its own (no
#                      Socket.IO code in it): the layering proof, .ci/engine-alone
#   make test-rust     cargo test, then the integration tests again on actix-web's HttpServer
#   make test-js       socket.io-client and our own client (node) against examples/interop_server
#                      and the demo server, the interop and demo suites again with the msgpack
#                      parser (PARSER=msgpack)
#   make test-py       python-socketio against examples/interop_server and the demo server, also
#                      with its msgpack serializer
#   make test-cluster  the Redis adapter: examples/cluster_node with itself and with Node's
#                      socket.io + @socket.io/redis-adapter, faults (Redis killed, bad messages,
#                      a silent node), the demo behind nginx (docs/cluster/nginx.conf); Debian's
#                      redis-server and nginx-light are installed when missing
#   make test-browser  headless Chromium (Debian's, installed when missing) on the demo page
#   make fuzz-smoke    each cargo-fuzz target for 15 s (needs nightly; says SKIPPED without it)
#   make bench         side-by-side benchmark against Node socket.io and socketioxide (bench/)
#
# INTEROP_SERVER may point at another server binary for test-js / test-py.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
# The steps of `test` must run in the order written, even under `make -j`.
.NOTPARALLEL:

CARGO ?= cargo
PYTHON ?= python3

TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# When INTEROP_SERVER is given (environment or command line) that binary is
# used as is; otherwise the example is built first.
ifeq ($(origin INTEROP_SERVER),undefined)
INTEROP_SERVER := $(TARGET_DIR)/debug/examples/interop_server
SERVER_BUILD := servers
else
SERVER_BUILD :=
endif
DEMO_SERVER ?= $(TARGET_DIR)/debug/actix-socketio
CHROMIUM := /usr/bin/chromium
BROWSER_DIR := tests/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.install-stamp

JS_DIR := tests/js
JS_STAMP := $(JS_DIR)/node_modules/.install-stamp
PY_DIR := tests/py
VENV := $(PY_DIR)/.venv
VENV_PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.requirements-stamp

CLUSTER_DIR := tests/cluster
CLUSTER_STAMP := $(CLUSTER_DIR)/node_modules/.install-stamp
CLUSTER_NODE ?= $(TARGET_DIR)/debug/examples/cluster_node
# Expanded when used, i.e. after cluster-tools: nginx is in /usr/sbin, often not on a user's PATH.
NGINX = $(or $(shell command -v nginx 2>/dev/null),/usr/sbin/nginx)
# The cluster suite runs three pairs of nodes, the faults and nginx (about a minute).
CLUSTER_TIMEOUT := 300

# Upper bound for each interop suite (each is expected to take well under 60 s).
SUITE_TIMEOUT := 180

# $(call require,TOOL,HINT): fail loudly when TOOL is not on PATH.
define require
@command -v $(1) >/dev/null 2>&1 || { echo "make: error: '$(1)' is required but not found on PATH. $(2)" >&2; exit 127; }
endef

.PHONY: engine-alone
engine-alone:
	$(call require,$(CARGO),Install Rust (rustup).)
	$(call require,$(PYTHON),Install Python 3.)
	.ci/engine-alone

.PHONY: test lint fmt-check clippy test-rust servers test-js test-py test-browser js-deps py-deps browser-deps chromium
.PHONY: test-cluster cluster-deps cluster-tools cluster-servers

test: lint engine-alone test-rust servers test-js test-py test-cluster test-browser fuzz-smoke

lint: fmt-check clippy

fmt-check:
	$(call require,$(CARGO),Install Rust (rustup).)
	$(CARGO) fmt --all -- --check

clippy:
	$(call require,$(CARGO),Install Rust (rustup).)
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(call require,$(CARGO),Install Rust (rustup).)
	$(CARGO) test
	# The integration tests again on actix-web's HttpServer (WebSockets through actix-ws).
	ACTIX_SOCKETIO_TEST_SERVER=http $(CARGO) test --tests

# The interop example and the demo binary, which the client suites start.
servers:
	$(call require,$(CARGO),Install Rust (rustup).)
	$(CARGO) build --bins --example interop_server

# ---------------------------------------------------------------- JavaScript

js-deps: $(JS_STAMP)

# `npm ci` when node_modules is missing or package.json / package-lock.json is newer.
$(JS_STAMP): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	$(call require,node,Install Node.js 18 or newer.)
	$(call require,npm,Install npm (it ships with Node.js).)
	cd $(JS_DIR) && npm ci --no-audit --no-fund
	touch $@

test-js: $(SERVER_BUILD) js-deps
	$(call require,node,Install Node.js 18 or newer.)
	$(call require,timeout,Install coreutils.)
	@test -x "$(INTEROP_SERVER)" || { echo "make: error: interop server not found: $(INTEROP_SERVER)" >&2; exit 1; }
	INTEROP_SERVER="$(abspath $(INTEROP_SERVER))" DEMO_SERVER="$(abspath $(DEMO_SERVER))" \
		timeout --kill-after=10 $(SUITE_TIMEOUT) node --test $(JS_DIR)/*.test.mjs
	# The interop suite again, with the example serving through actix-web's HttpServer.
	SERVER=http INTEROP_SERVER="$(abspath $(INTEROP_SERVER))" \
		timeout --kill-after=10 $(SUITE_TIMEOUT) node --test $(JS_DIR)/interop.test.mjs
	# The interop suite (on both servers) and the demo contract with socket.io-msgpack-parser.
	PARSER=msgpack INTEROP_SERVER="$(abspath $(INTEROP_SERVER))" DEMO_SERVER="$(abspath $(DEMO_SERVER))" \
		timeout --kill-after=10 $(SUITE_TIMEOUT) node --test $(JS_DIR)/interop.test.mjs $(JS_DIR)/demo.test.mjs
	PARSER=msgpack SERVER=http INTEROP_SERVER="$(abspath $(INTEROP_SERVER))" \
		timeout --kill-after=10 $(SUITE_TIMEOUT) node --test $(JS_DIR)/interop.test.mjs

# ---------------------------------------------------------------- Python

py-deps: $(PY_STAMP)

$(VENV_PY):
	$(call require,$(PYTHON),Install Python 3.9 or newer with the venv module.)
	$(PYTHON) -m venv $(VENV)

# pip install again whenever requirements.txt changes.
$(PY_STAMP): $(PY_DIR)/requirements.txt | $(VENV_PY)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r $(PY_DIR)/requirements.txt
	touch $@

test-py: $(SERVER_BUILD) py-deps
	$(call require,timeout,Install coreutils.)
	@test -x "$(INTEROP_SERVER)" || { echo "make: error: interop server not found: $(INTEROP_SERVER)" >&2; exit 1; }
	INTEROP_SERVER="$(abspath $(INTEROP_SERVER))" DEMO_SERVER="$(abspath $(DEMO_SERVER))" \
		PYTHONDONTWRITEBYTECODE=1 timeout --kill-after=10 $(SUITE_TIMEOUT) \
		$(VENV_PY) -m pytest $(PY_DIR) -p no:cacheprovider -v
	# The interop suite again, with the example serving through actix-web's HttpServer.
	SERVER=http INTEROP_SERVER="$(abspath $(INTEROP_SERVER))" \
		PYTHONDONTWRITEBYTECODE=1 timeout --kill-after=10 $(SUITE_TIMEOUT) \
		$(VENV_PY) -m pytest $(PY_DIR)/test_interop.py $(PY_DIR)/test_msgpack.py -p no:cacheprovider -q

# ---------------------------------------------------------------- Cluster (Redis adapter)

# Debian's redis-server and nginx-light (never a download of our own): installed with apt-get
# when missing, and a loud failure when that is impossible.
cluster-tools:
	@if ! command -v redis-server >/dev/null 2>&1 || { ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; }; then \
		echo "make: installing Debian's redis-server and nginx-light for the cluster test"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "make: error: redis-server or nginx is missing and apt-get needs root" >&2; exit 1; fi; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server nginx-light; \
	fi
	@command -v redis-server >/dev/null 2>&1 || { echo "make: error: redis-server still missing" >&2; exit 1; }
	@test -x "$(NGINX)" || { echo "make: error: nginx still missing" >&2; exit 1; }

cluster-deps: $(CLUSTER_STAMP)

# Node's socket.io, @socket.io/redis-adapter, node-redis and socket.io-client, pinned.
$(CLUSTER_STAMP): $(CLUSTER_DIR)/package.json $(CLUSTER_DIR)/package-lock.json
	$(call require,node,Install Node.js 18 or newer.)
	$(call require,npm,Install npm (it ships with Node.js).)
	cd $(CLUSTER_DIR) && npm ci --no-audit --no-fund
	touch $@

# The demo binary and the cluster node example.
cluster-servers:
	$(call require,$(CARGO),Install Rust (rustup).)
	$(CARGO) build --bins --example cluster_node

test-cluster: cluster-tools cluster-deps cluster-servers
	$(call require,node,Install Node.js 18 or newer.)
	$(call require,timeout,Install coreutils.)
	@test -x "$(CLUSTER_NODE)" || { echo "make: error: cluster node not found: $(CLUSTER_NODE)" >&2; exit 1; }
	@test -x "$(DEMO_SERVER)" || { echo "make: error: demo server not found: $(DEMO_SERVER)" >&2; exit 1; }
	# The whole suite: the knobs that narrow it for working on the tests are cleared.
	env -u CLUSTER_PAIRS -u CLUSTER_FAULT_PAIRS -u CLUSTER_NGINX \
		CLUSTER_NODE="$(abspath $(CLUSTER_NODE))" DEMO_SERVER="$(abspath $(DEMO_SERVER))" NGINX="$(NGINX)" \
		timeout --kill-after=10 $(CLUSTER_TIMEOUT) node --test $(CLUSTER_DIR)/*.test.mjs
	# The Rust tests that need a real redis-server (ignored by a plain `cargo test`).
	$(CARGO) test --test metrics -- --ignored --exact cluster_requests_between_two_nodes_on_redis

# ---------------------------------------------------------------- Browser

# Debian's Chromium (never a browser download): installed with apt-get when missing.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "make: installing Debian's chromium for the browser test"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "make: error: $(CHROMIUM) is missing and apt-get needs root" >&2; exit 1; fi; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@test -x $(CHROMIUM) || { echo "make: error: $(CHROMIUM) still missing" >&2; exit 1; }

browser-deps: $(BROWSER_STAMP)

$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	$(call require,npm,Install npm (it ships with Node.js).)
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund
	touch $@

test-browser: $(SERVER_BUILD) chromium browser-deps
	$(call require,timeout,Install coreutils.)
	@test -x "$(DEMO_SERVER)" || { echo "make: error: demo server not found: $(DEMO_SERVER)" >&2; exit 1; }
	DEMO_SERVER="$(abspath $(DEMO_SERVER))" timeout --kill-after=10 $(SUITE_TIMEOUT) \
		node --test $(BROWSER_DIR)/*.test.mjs

# ---------------------------------------------------------------- Fuzzing

FUZZ_TARGETS := engine_packet polling_payload socket_packet socket_binary socket_msgpack
FUZZ_SECONDS ?= 15
# The smoke run builds without AddressSanitizer: the decoders are safe Rust, panics and
# debug-assertion failures are caught either way, and the ASan build of the dependency tree takes
# ~9 min on 2 cores against ~3 min without. Long runs: `make fuzz-smoke FUZZ_SANITIZER=address`.
FUZZ_SANITIZER ?= none

.PHONY: fuzz-smoke

# Each cargo-fuzz target (fuzz/) for FUZZ_SECONDS on a scratch copy of its seeds, so the committed
# corpus never grows. Needs a nightly toolchain; without one it says so loudly and succeeds.
# A crash fails the target; libFuzzer leaves the input under fuzz/artifacts/<target>/.
fuzz-smoke:
	@if ! $(CARGO) +nightly --version >/dev/null 2>&1; then \
		echo "fuzz-smoke: SKIPPED (no nightly toolchain)"; \
		exit 0; \
	fi; \
	if ! $(CARGO) +nightly fuzz --version >/dev/null 2>&1; then \
		echo "fuzz-smoke: installing cargo-fuzz"; \
		$(CARGO) install cargo-fuzz --locked; \
	fi; \
	scratch=$$(mktemp -d); \
	trap 'rm -rf "$$scratch"' EXIT; \
	for target in $(FUZZ_TARGETS); do \
		mkdir -p "$$scratch/$$target"; \
		cp fuzz/corpus/$$target/* "$$scratch/$$target/"; \
		echo "fuzz-smoke: $$target for $(FUZZ_SECONDS) s"; \
		$(CARGO) +nightly fuzz run --fuzz-dir fuzz --sanitizer $(FUZZ_SANITIZER) $$target "$$scratch/$$target" -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 \
			| grep -v -E '^(#[0-9]+\s+(NEW|REDUCE|pulse)\s|\s+NEW_FUNC|"|###### )'; \
	done; \
	echo "fuzz-smoke: all targets ran $(FUZZ_SECONDS) s without a crash"

# ---------------------------------------------------------------- Benchmark

.PHONY: bench

# Side-by-side load tests (bench/README.md): builds ours, the Node and socketioxide peers and the
# load generator, then prints the report BENCHMARKS.md is made from. Not part of `make test`.
bench:
	$(call require,$(CARGO),Install Rust (rustup).)
	$(call require,node,Install Node.js 18 or newer.)
	$(call require,taskset,Install util-linux.)
	$(PYTHON) bench/run
