# Everything installs into .venv from nothing; torch is pinned to the CPU build (constraints.txt).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 3978

.PHONY: setup run console lint test eval bench adapter clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The server with the web chat at http://$(HOST):$(PORT)/ and the admin console at /admin/ (demo reporting:
# generated key, sample directory, demo cases and unanswered questions added once to the data dir).
# Slack and Teams routes switch on when their credentials are set in the environment (see README.md).
run: setup
	HF_HUB_OFFLINE=1 $(BIN)/policybot index build
	HF_HUB_OFFLINE=1 $(BIN)/policybot demo --dev
	HF_HUB_OFFLINE=1 exec $(BIN)/policybot serve --dev --host $(HOST) --port $(PORT)

# The same engine as a chat on the terminal.
console: setup
	HF_HUB_OFFLINE=1 $(BIN)/policybot index build
	HF_HUB_OFFLINE=1 $(BIN)/policybot chat --dev

# ruff (lint and format check) on everything, mypy --strict on the core (pyproject.toml has both configurations).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot index knowledge

# Lint first; installs Debian's chromium for the browser tests when it is missing (as root, with apt-get).
test: setup lint
	sh scripts/ensure-test-tools
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# The bundled question sets on the bundled policies; then, where ../shared holds them, the real documents
# added as a bare `kb add` and the leave-one-document-out figures (README "Evaluation").
REALDOCS ?= ../shared/realdocs
REALQ ?= ../shared/eval/realdocs_questions.json
eval: setup
	HF_HUB_OFFLINE=1 $(BIN)/policybot eval --compare
	@if [ -f $(REALQ) ] && [ -d $(REALDOCS) ]; then \
	  HF_HUB_OFFLINE=1 $(BIN)/policybot eval $(REALQ) --compare --with-docs $(REALDOCS)/*.pdf $(REALDOCS)/*.docx $(REALDOCS)/*.txt && \
	  HF_HUB_OFFLINE=1 $(BIN)/policybot eval --cross-validate $(REALQ) --with-docs $(REALDOCS)/*.pdf $(REALDOCS)/*.docx $(REALDOCS)/*.txt; \
	else echo "($(REALQ) or $(REALDOCS) not found: real-document figures skipped)"; fi

# Retrain the shipped embedding adapter (index/tuned: LoRA on the bundled model) from the bundled policies and
# the dev and staff question sets only, about 2.5 minutes on 2 cores (README "Evaluation").
adapter: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m index.adapt --shipped --out index/tuned

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python bench/bench_retrieval.py

clean:
	rm -rf $(VENV) .pytest_cache
