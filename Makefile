# Two commands on a fresh machine: `make demo` and `make test`. Everything else is here.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_DATA ?= demo-data
DEMO_HOME ?= .seamline
DEMO_DURATION ?= 1d

.PHONY: demo test lint docs bench clean browser sdk-test shop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## demo: simulate a day of shop traffic with incidents, ingest and correlate it, then serve the UI
demo: $(VENV)/.installed
	$(BIN)/seamline simulate --out $(DEMO_DATA) --duration $(DEMO_DURATION) --seed 7 --idless-devices 0.1
	$(BIN)/seamline ingest --home $(DEMO_HOME) --no-correlate $(DEMO_DATA)/client $(DEMO_DATA)/gateway $(DEMO_DATA)/services $(DEMO_DATA)/otlp
	$(BIN)/seamline ingest --home $(DEMO_HOME) --service legacy $(DEMO_DATA)/legacy
	$(BIN)/seamline summary --home $(DEMO_HOME)
	$(BIN)/seamline coverage --home $(DEMO_HOME) --by kind
	$(BIN)/seamline skew --home $(DEMO_HOME)
	$(BIN)/seamline views refresh --home $(DEMO_HOME)
	$(BIN)/seamline alerts check --home $(DEMO_HOME) --since first --until last
	@echo "Seamline UI: http://127.0.0.1:8470  (Ctrl-C stops it)"
	$(BIN)/seamline serve --home $(DEMO_HOME) --port 8470

## test: install what the tests need (Python packages, the SDK's node tools, Debian's chromium), lint, run every test
test: $(VENV)/.installed-test sdk/node_modules browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	cd sdk && npm test && npm run build -- --check
	$(BIN)/python -m pytest -n 2 --durations=10

sdk/node_modules: sdk/package-lock.json
	cd sdk && npm ci --no-audit --no-fund
	touch $@

# Browser tests drive Debian's chromium (never a downloaded browser); install it when missing and we can.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "warning: could not install chromium; the browser tests will be skipped"

sdk-test: sdk/node_modules
	cd sdk && npm test && npm run build -- --check

## shop: run Seamline and the demo shop side by side for live traffic (Ctrl-C stops both)
shop: $(VENV)/.installed
	$(BIN)/seamline serve --home $(DEMO_HOME) --port 8470 & SERVE=$$!; \
	trap "kill $$SERVE" EXIT; \
	echo "demo shop: http://127.0.0.1:8471  (Seamline on :8470)"; \
	$(BIN)/python -m seamline.demo_shop --port 8471 --seamline http://127.0.0.1:8470 --log http://127.0.0.1:8470

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

## docs: regenerate docs/dictionary.md from the code
docs: $(VENV)/.installed
	$(BIN)/seamline dictionary --format markdown > docs/dictionary.md

## bench: run every benchmark script (prints figures; takes minutes)
bench: $(VENV)/.installed-test
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(DEMO_DATA) $(DEMO_HOME) .pytest_cache sdk/node_modules
