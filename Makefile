# Two commands a fresh machine needs: `make demo` and `make test` (Python 3.11+ only).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean

$(BIN)/frontdesk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/frontdesk

demo: install
	$(BIN)/frontdesk demo

test: install
	$(BIN)/ruff check frontdesk tests bench
	$(BIN)/ruff format --check frontdesk tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check frontdesk tests bench
	$(BIN)/ruff format --check frontdesk tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) *.egg-info frontdesk-demo.db* .pytest_cache .ruff_cache
