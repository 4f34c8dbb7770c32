# heron: `make demo` runs heron with demo data, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
# make test runs pytest in one worker process per core and one more (pytest-xdist, at most
# 4): many tests wait on the servers they start (measured on 2 cores: 667 s with 2 workers,
# 553 s with 3). A test file at a time per worker, tests/ui and tests/compare each as one
# unit, slowest units first (tests/conftest.py); `make test WORKERS=0` runs every test in
# one process.
WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
CHROMIUM := /usr/bin/chromium

.PHONY: install browser postgres sdk-envs demo serve test lint bench clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Older majors of the Langfuse Python SDK, each in its own virtual environment, for the
# compatibility tests (tests/clients); v5 is the one in $(VENV). Pinned in tests/clients/sdk_envs.
SDK_MAJORS := 2 3 4
SDK_STAMPS := $(foreach m,$(SDK_MAJORS),.venvs/langfuse-v$(m)/.installed)

sdk-envs: $(SDK_STAMPS)

.venvs/langfuse-v%/.installed: tests/clients/sdk_envs/langfuse-v%.txt
	test -x .venvs/langfuse-v$*/bin/python || $(PYTHON) -m venv .venvs/langfuse-v$*
	.venvs/langfuse-v$*/bin/python -m pip install --quiet --no-deps -r $<
	touch $@

# The browser tests (tests/ui) drive Debian's chromium; install it when it is missing.
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		echo "Installing Debian's chromium for the browser tests (apt-get)"; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || { \
			echo "error: cannot install chromium; run 'apt-get install chromium' as root" >&2; \
			exit 1; }; \
	fi
	@test -x $(CHROMIUM) || { echo "error: $(CHROMIUM) is still missing" >&2; exit 1; }

# The cluster store's tests (tests/store/test_backend_*.py) start PostgreSQL's own server
# binaries (tests/support/postgres.py); install Debian's postgresql when there are none.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		echo "Installing Debian's postgresql for the cluster store's tests (apt-get)"; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql || { \
			echo "error: cannot install postgresql; run 'apt-get install postgresql' as root" >&2; \
			exit 1; }; \
	fi

demo: $(STAMP)
	$(BIN)/heron demo $(ARGS)

serve: $(STAMP)
	$(BIN)/heron serve $(ARGS)

# Bytecode caches on, whatever the environment says (PYTHONDONTWRITEBYTECODE): each test
# process and each server it starts then reuses pytest's rewritten test modules and the
# compiled sources instead of compiling them again (collection: 17 s -> 7 s a process).
test: $(STAMP) sdk-envs browser postgres
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(WORKERS) --maxprocesses 4 \
		--dist loadfile $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/read.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/feedback.py

clean:
	rm -rf $(VENV) .venvs .pytest_cache tests/artifacts
