# ShelfWatch: the commands people type. `make help` lists them.
# Everything runs from the project's own virtualenv (.venv), created on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
CONFIG ?= training/configs/v11.yaml
DATA   ?=
IMAGES ?=

.DEFAULT_GOAL := help
.PHONY: help install demo test lint unit train bench services services-down clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel
	$(BIN)/pip install --quiet -e '.[dev,train,bench]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its dev, train and bench extras

demo: $(STAMP)  ## run the farm on real local services with the sample photos (ARGS=--once to exit)
	$(BIN)/shelfwatch demo $(ARGS)

services: $(STAMP)  ## find or start Postgres, Redis and the S3-API server; writes .shelfwatch/local.env
	$(BIN)/shelfwatch services up

services-down:  ## stop the services `make services` started (never the machine's own)
	$(BIN)/shelfwatch services down

lint: $(STAMP)  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP) lint  ## lint, then the whole suite on real services (starts what it needs)
	$(BIN)/pytest -q $(ARGS)

unit: $(STAMP)  ## only the tests that need no services
	$(BIN)/pytest -q -m "not integration and not slow" $(ARGS)

train: $(STAMP)  ## reproduce the committed model (CONFIG=…): data, train, ONNX, INT8, gate, card → models/
	$(BIN)/python -m training.build --config $(CONFIG) --out models/ $(if $(DATA),--data $(DATA)) $(if $(IMAGES),--images $(IMAGES))

bench: $(STAMP)  ## engine + farm benchmarks vs Ultralytics and OpenVINO (ARGS=--quick|--profile); JSON + PNG in build/bench/
	$(BIN)/shelfwatch bench $(ARGS)

clean:  ## remove build output and the local stack's state (not the models)
	rm -rf build .shelfwatch .pytest_cache .ruff_cache .mypy_cache
