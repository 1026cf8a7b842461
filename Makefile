# Two commands on a fresh machine: `make demo` and `make test`. Everything else is here.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_DATA ?= demo-data
DEMO_HOME ?= .seamline
DEMO_DURATION ?= 1d

.PHONY: demo test lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## demo: simulate a day of shop traffic with incidents, ingest it, print what was loaded
demo: $(VENV)/.installed
	$(BIN)/seamline simulate --out $(DEMO_DATA) --duration $(DEMO_DURATION) --seed 7
	$(BIN)/seamline ingest --home $(DEMO_HOME) $(DEMO_DATA)/client $(DEMO_DATA)/gateway $(DEMO_DATA)/services $(DEMO_DATA)/otlp
	$(BIN)/seamline ingest --home $(DEMO_HOME) --service legacy $(DEMO_DATA)/legacy
	$(BIN)/seamline summary --home $(DEMO_HOME)

## test: install what the tests need, lint, and run every test
test: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 --durations=10

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks

## docs: regenerate docs/dictionary.md from the code
docs: $(VENV)/.installed
	$(BIN)/seamline dictionary --format markdown > docs/dictionary.md

## bench: run every benchmark script (prints figures; takes minutes)
bench: $(VENV)/.installed-test
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(DEMO_DATA) $(DEMO_HOME) .pytest_cache
