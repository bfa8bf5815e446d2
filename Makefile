# scimtrail — the README's two commands are `make demo` and `make test`.
# Each installs what it needs: system libraries (Debian), a virtualenv, the package.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SYSSTAMP := $(VENV)/.sysdeps-stamp
DEMO_OUT ?= demo-out

.PHONY: demo test lint typecheck unit bench bench-quick sysdeps install clean help

help:
	@echo "make demo   - run the main job end to end on embedded defaults (SQLite, loopback SCIM)"
	@echo "make test   - lint, type-check, import contracts and the whole test suite"
	@echo "make bench  - run the benchmarks (prints ratios against same-run baselines)"
	@echo "make bench-quick - the same at smaller sizes"

# System libraries: WeasyPrint needs Pango; tests render PDFs with poppler-utils;
# fonts that cover Arabic. Installed with apt-get when missing (root on CI machines).
$(SYSSTAMP):
	@$(PYTHON) -m venv $(VENV) >/dev/null 2>&1 || true
	@bash .ci/sysdeps.sh
	@touch $@

sysdeps: $(SYSSTAMP)

$(STAMP): pyproject.toml $(SYSSTAMP)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

demo: $(STAMP)
	$(PY) -m scimtrail.demo --out $(DEMO_OUT)

# Full-size benchmarks (tens of minutes); each prints ratios against same-run baselines.
bench: $(STAMP)
	$(PY) benchmarks/ledger.py
	$(PY) benchmarks/provision.py
	$(PY) benchmarks/reports.py
	$(PY) benchmarks/pack.py

bench-quick: $(STAMP)
	$(PY) benchmarks/ledger.py --quick
	$(PY) benchmarks/provision.py --quick
	$(PY) benchmarks/reports.py --entries 100000 --people 2000 --no-pg
	$(PY) benchmarks/pack.py --events 10000 --leavers 200 --reps 1

clean:
	rm -rf $(VENV) $(DEMO_OUT) .mypy_cache .ruff_cache .pytest_cache
