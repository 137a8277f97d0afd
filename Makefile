# Tổ trưởng — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test bench lint i18n clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# vietnam-provinces' wheel asks for Python 3.12 but runs on 3.11 (docs/decisions.md): installed
# without that check here; on 3.12+ pyproject.toml installs it like any other dependency.
PROVINCES := vietnam-provinces>=2026.9.0,<2027

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps --ignore-requires-python '$(PROVINCES)'
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps --ignore-requires-python '$(PROVINCES)'
	touch $(STAMP) $@

## make run: install, migrate, load the demo data when empty, start the simulator on http://127.0.0.1:8080
run: $(STAMP)
	$(BIN)/totruong run

## make test: install the development dependencies and run the architecture checks and the whole suite
test: $(DEVSTAMP) lint
	$(BIN)/python -m pytest -q -ra

lint: $(DEVSTAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy

## make bench: run the benchmarks in bench/ and print their figures
bench: $(DEVSTAMP)
	$(BIN)/python -m bench

## make i18n: extract the strings and update the catalogs in locales/
i18n: $(DEVSTAMP)
	$(BIN)/pybabel extract -F babel.cfg -k t -k other -k ngettext:1,2 --no-location --omit-header -o locales/messages.pot .
	$(BIN)/python locales/sync.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
