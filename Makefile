# The only two commands a newcomer needs: `make run` and `make test`.
# Each creates .venv and installs what it needs the first time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint audit bench bench-small screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

run: $(STAMP)
	$(BIN)/python -m dupeguard.demo

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

# refresh docs/screenshots/ from the browser tests (needs Chromium)
screenshots: $(STAMP)
	DUPEGUARD_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/web/test_browser.py

# Known vulnerabilities in the installed dependencies (pip-audit; needs PyPI's advisory
# data over the network: says so loudly when it cannot be had, see .ci/audit.py).
audit: $(STAMP)
	$(BIN)/python .ci/audit.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/run_scan_bench.py --sizes 10000 100000 1000000

bench-small: $(VENV)/.bench-installed
	$(BIN)/python bench/run_scan_bench.py --sizes 10000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
