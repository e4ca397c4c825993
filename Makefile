# Every target creates and uses its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[all]' --group dev
	touch $(BIN)/activate

demo: $(BIN)/activate
	@$(BIN)/python examples/resume_vm_boot.py --fresh

lint: $(BIN)/activate
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

typecheck: $(BIN)/activate
	$(BIN)/mypy

unit: $(BIN)/activate
	$(BIN)/python -m pytest

test: lint typecheck unit

bench: $(BIN)/activate
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/remote_bench.py --write

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
