# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The editable install maps each top-level package found when it ran: a package added later (portal/) needs it
# to run again, so the stamp depends on the packages' __init__.py files too.
$(STAMP): $(BIN)/python pyproject.toml $(wildcard */__init__.py)
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

$(BENCH_STAMP): $(TEST_STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $@

run: $(STAMP)
	$(BIN)/client-portal $(ARGS)

# Three workers on two cores: the dashboard tests spend most of their time waiting for the app to go idle (two
# workers kept the load near 1), so a third one fills the gaps; worksteal evens out the long tests.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n 3 --dist worksteal $(PYTEST_ARGS)

# `make bench ENGINE=postgres`: the PostgreSQL rows, on a server the benchmarks start themselves.
bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run_all.py $(if $(ENGINE),--engine $(ENGINE))

clean:
	rm -rf $(VENV) build *.egg-info
