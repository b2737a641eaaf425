"""A real kfp.local run of the whole pipeline (`saferlhf pipeline run`: every step a subprocess, real stages) on a
tiny config: artifacts published in the seed's layout, metrics on the Metrics artifacts, a rerun served from the
step cache, and a failing step named in one line."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = pytest.mark.slow

SAFERLHF = str(REPO / ".venv" / "bin" / "saferlhf")
TINY = {
    "data": {"seed": 42},
    "reward": {"num_epochs": 1, "max_train_samples": 64, "max_length": 48, "batch_size": 16, "warmup_steps": 2,
               "mc_dropout_passes": 2, "eval_batch_size": 128},
    "policy": {"num_epochs": 1, "n_layer": 1, "n_embd": 32, "n_head": 2, "vocab_size": 512, "batch_size": 64},
    "rl": {"max_steps": 2, "batch_size": 4, "num_generations": 2, "max_new_tokens": 8},
    "evaluate": {"max_prompts": 8, "num_adversarial": 4, "max_new_tokens": 8, "mc_dropout_passes": 2},
    "probe": {"max_prompts_per_probe": 4, "max_new_tokens": 8},
    "export": {"max_parity_samples": 16},
}


def pipeline_run(config: Path, *params: str) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.time()
    args = [SAFERLHF, "--config", str(config), "pipeline", "run"] + [f"--param={p}" for p in params]
    # MLflow stage logging off (SAFERLHF_TRACKING=0): it is tested with the registry; here it would only add time
    r = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=2400,
                       env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                            "COLUMNS": "160", "HOME": str(config.parent), "SAFERLHF_TRACKING": "0"})
    return r, time.time() - t0


def pipeline_seconds(stdout: str) -> float:
    return float(re.search(r"finished in (\d+) s", stdout).group(1))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({"output_root": str(root / "outputs"), **TINY}))
    r, seconds = pipeline_run(config)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return config, root / "outputs", r, seconds


def test_run_publishes_the_seed_layout_and_metrics(first_run):
    _, out, r, _ = first_run
    for rel in ("data/safety_labels.csv", "data/prompts.json", "models/reward_model/model.safetensors",
                "models/reward_model/onnx/model.onnx", "models/base_policy/config.json",
                "models/rl_policy/config.json", "evaluation_results/evaluation_results.json", "probes_report.json",
                "promotion_decision.md"):
        assert (out / rel).exists(), rel
    assert "summary" in json.loads((out / "probes_report.json").read_text())
    # headline numbers were logged on the steps' Metrics artifacts (what the KFP UI shows)
    reward_metrics = next((out / "pipeline_runs").rglob("train-reward/metrics"))
    assert 0.0 <= json.loads(reward_metrics.read_text())["pairwise_accuracy"] <= 1.0
    assert "headline metrics" in r.stdout and "reward model pairwise accuracy" in r.stdout
    assert "Promotion decision" in r.stdout
    assert "assess-policies" in r.stdout and "train-rl" in r.stdout  # every step ran the first time


def test_rerun_is_served_from_the_cache(first_run):
    config, _, r1, _ = first_run
    r2, _ = pipeline_run(config)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert "every step came from the cache" in r2.stdout
    assert pipeline_seconds(r2.stdout) <= 0.2 * max(pipeline_seconds(r1.stdout), 1)


def test_a_failing_step_is_named_in_one_line(first_run):
    config, _, _, _ = first_run
    r, _ = pipeline_run(config, 'overrides={"reward": {"model_name": "/nonexistent/encoder"}}')
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: pipeline step 'train-reward' failed: "), last
    assert "nonexistent" in last
