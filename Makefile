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

.PHONY: venv demo demo-real demo-stages test test-fast bench-reward clean help
.PHONY: bench-monitor
.PHONY: bench-rl
.PHONY: export-onnx serve bench-serve bench-reliability
.PHONY: image-serve image-pipeline push-images
.PHONY: dashboard screenshots
.PHONY: mlflow-ui

help:  ## list targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements-real.lock pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (Python 3.11 is required)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -r requirements-real.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)  ## create .venv with the pinned dependencies

demo: $(STAMP)  ## the whole pipeline on $(CONFIG) through kfp.local (cached steps skip), published to outputs/
	$(BIN)/saferlhf --config $(CONFIG) pipeline run

demo-real: $(STAMP)  ## the same pipeline with SmolLM2-135M-Instruct as the policy (configs/smollm2.yaml, outputs-real/)
	$(BIN)/saferlhf --config configs/smollm2.yaml pipeline run

demo-stages: $(STAMP)  ## the same stages as plain CLI commands, one after another (no KFP, no cache)
	$(BIN)/saferlhf --config $(CONFIG) data generate
	$(BIN)/saferlhf --config $(CONFIG) policy init
	$(BIN)/saferlhf --config $(CONFIG) data contrast
	$(BIN)/saferlhf --config $(CONFIG) reward train
	$(BIN)/saferlhf --config $(CONFIG) policy train-rl
	$(BIN)/saferlhf --config $(CONFIG) evaluate
	$(BIN)/saferlhf --config $(CONFIG) probe
	$(BIN)/saferlhf --config $(CONFIG) reward export-onnx --quantize int8
	$(BIN)/saferlhf --config $(CONFIG) registry register

test: $(STAMP)  ## the whole test suite (slow tests included)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)  ## unit tests only (skips tests marked slow)
	$(BIN)/python -m pytest -q -m "not slow"

bench-reward: $(STAMP)  ## generate data + train/evaluate the reward model on configs/full.yaml -> outputs/bench/reward_full.json
	$(BIN)/python benchmarks/bench_reward.py --config configs/full.yaml

bench-rl: $(STAMP)  ## policy init + RL + evaluate + probe (+ Lagrangian RL) on configs/full.yaml -> outputs/bench/rl_full.json
	$(BIN)/python benchmarks/bench_rl.py --config configs/full.yaml

ONNX_BUNDLE := outputs/models/reward_model/onnx

export-onnx: $(STAMP)  ## export the reward model to ONNX fp32 + INT8 with parity checks -> $(ONNX_BUNDLE)
	$(BIN)/saferlhf --config $(CONFIG) reward export-onnx --quantize int8

serve: $(STAMP)  ## scoring service (KServe V2 + /v1/score) on 127.0.0.1:8000; exports the ONNX model first if missing
	@test -f $(ONNX_BUNDLE)/export_report.json || $(BIN)/saferlhf --config $(CONFIG) reward export-onnx --quantize int8
	$(BIN)/saferlhf --config $(CONFIG) serve

bench-serve: $(STAMP)  ## load test: PyTorch eager vs ONNX fp32 vs INT8 at 1/16/64 clients -> outputs/bench/serve.json
	@test -f $(ONNX_BUNDLE)/export_report.json || $(BIN)/saferlhf --config $(CONFIG) reward export-onnx --quantize int8
	$(BIN)/python benchmarks/bench_serve.py --model $(ONNX_BUNDLE)

bench-reliability: $(STAMP)  ## scorer soak (10k requests, kill -9 a worker), attacks, full log disk -> outputs/bench/reliability.json
	@test -f $(ONNX_BUNDLE)/model.onnx || $(BIN)/saferlhf --config $(CONFIG) reward export-onnx --quantize int8
	$(BIN)/python benchmarks/bench_reliability.py --model $(ONNX_BUNDLE)

bench-monitor: $(STAMP)  ## drift monitor on 100,000 logged predictions (<= 60 s) -> outputs/bench/monitor.json
	$(BIN)/python benchmarks/bench_monitor.py --config $(CONFIG)

# Images: tags come from saferlhf.__version__ (the one version); scripts/build_image.sh builds with buildah, on
# BASE_IMAGE when set, else on a debootstrap'd bookworm + python3.11 cached by scripts/bookworm_base.sh.
IMAGE_REGISTRY ?= localhost
export IMAGE_REGISTRY

image-serve:  ## build the torch-free scorer image (buildah) -> $(IMAGE_REGISTRY)/saferlhf-serve:<version>
	scripts/build_image.sh serve

image-pipeline:  ## build the full pipeline image, torch CPU (buildah) -> $(IMAGE_REGISTRY)/saferlhf:<version>
	scripts/build_image.sh pipeline

push-images:  ## push both images to $(IMAGE_REGISTRY) (build them first with that IMAGE_REGISTRY)
	for target in serve pipeline; do buildah push "$$(IMAGE_REF_ONLY=1 scripts/build_image.sh $$target)"; done

MLFLOW_PORT ?= 5000

mlflow-ui: $(STAMP)  ## MLflow UI over outputs/mlflow.db (runs + registry) on 127.0.0.1:$(MLFLOW_PORT)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath outputs/mlflow.db) --host 127.0.0.1 --port $(MLFLOW_PORT)

dashboard: $(STAMP)  ## Streamlit dashboard on 127.0.0.1:8501 over outputs/ (prompt tester scores via 127.0.0.1:8000 or the local model)
	$(BIN)/saferlhf --config $(CONFIG) dashboard

screenshots: $(STAMP)  ## browser test of every dashboard page (Debian chromium) -> docs/screenshots/*.png
	SAFERLHF_SCREENSHOTS_DIR=docs/screenshots $(BIN)/python -m pytest -q tests/e2e/test_dashboard_browser.py

clean:  ## remove outputs (keeps .venv)
	rm -rf outputs
