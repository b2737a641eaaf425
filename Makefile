# SafeRLHF — every target sets up .venv from the pinned lock file first.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/demo.yaml
export PYTHONUNBUFFERED := 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv demo test test-fast bench-reward clean help
.PHONY: bench-monitor
.PHONY: bench-rl
.PHONY: dashboard screenshots

help:  ## list targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (Python 3.11 is required)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)  ## create .venv with the pinned dependencies

demo: $(STAMP)  ## run the main job on configs/demo.yaml (data -> reward model -> evaluation)
	$(BIN)/saferlhf --config $(CONFIG) data generate
	$(BIN)/saferlhf --config $(CONFIG) reward train
	$(BIN)/saferlhf --config $(CONFIG) policy init
	$(BIN)/saferlhf --config $(CONFIG) policy train-rl
	$(BIN)/saferlhf --config $(CONFIG) evaluate
	$(BIN)/saferlhf --config $(CONFIG) probe

test: $(STAMP)  ## the whole test suite (slow tests included)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## unit tests only (skips tests marked slow)
	$(BIN)/python -m pytest -q -m "not slow"

bench-reward: $(STAMP)  ## generate data + train/evaluate the reward model on configs/full.yaml -> outputs/bench/reward_full.json
	$(BIN)/python benchmarks/bench_reward.py --config configs/full.yaml

bench-rl: $(STAMP)  ## policy init + RL + evaluate + probe (+ Lagrangian RL) on configs/full.yaml -> outputs/bench/rl_full.json
	$(BIN)/python benchmarks/bench_rl.py --config configs/full.yaml

bench-monitor: $(STAMP)  ## drift monitor on 100,000 logged predictions (<= 60 s) -> outputs/bench/monitor.json
	$(BIN)/python benchmarks/bench_monitor.py --config $(CONFIG)

dashboard: $(STAMP)  ## Streamlit dashboard on 127.0.0.1:8501 over outputs/ (prompt tester scores via 127.0.0.1:8000 or the local model)
	$(BIN)/saferlhf --config $(CONFIG) dashboard

screenshots: $(STAMP)  ## browser test of every dashboard page (Debian chromium) -> docs/screenshots/*.png
	SAFERLHF_SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest -q tests/e2e/test_dashboard_browser.py

clean:  ## remove outputs (keeps .venv)
	rm -rf outputs
