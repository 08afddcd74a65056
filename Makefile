# Everything installs into .venv from nothing; torch is pinned to the CPU build (constraints.txt).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test eval bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	HF_HUB_OFFLINE=1 $(BIN)/policybot index build
	HF_HUB_OFFLINE=1 $(BIN)/policybot chat --dev

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

eval: setup
	HF_HUB_OFFLINE=1 $(BIN)/policybot eval --compare

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_retrieval.py

clean:
	rm -rf $(VENV) .pytest_cache
