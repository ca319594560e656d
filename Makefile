# Two commands matter: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Strict editable installs map sdk/, actors/, ... into `repertory` with a link tree, which
# must be rebuilt when a module is added or removed: the list of modules is part of the stamp.
MODULES := $(sort $(shell find sdk actors runtime gateway -name '*.py' -o -name py.typed))

.PHONY: run demo test lint format bench clean FORCE

# The server on the default SQLite database, serving the example flows.
run: $(VENV)/.installed
	@echo "command line, in another terminal: $(BIN)/repertory (or: source $(BIN)/activate)"
	$(BIN)/repertory server start --flows repertory._examples

# A short tour of the actor kernel.
demo: $(VENV)/.installed
	$(BIN)/python -m repertory._demo

test: lint
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy -p repertory
	$(BIN)/mypy tests bench
	$(BIN)/lint-imports

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The REST figures need wrk (Debian's package): installed here when it is missing and we may.
bench: $(VENV)/.installed
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } \
		|| echo "wrk is missing (apt-get install wrk): the REST figures will be skipped"
	$(BIN)/python -m bench $(BENCH_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.modules: FORCE | $(VENV)/bin/python
	@echo "$(MODULES)" | cmp -s - $@ || echo "$(MODULES)" > $@

$(VENV)/.installed: pyproject.toml $(VENV)/.modules | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	@touch $@

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .coverage bench/results

FORCE:
