"""Two processes under torchrun (gloo, CPU) on a tiny config: reward training (1 epoch) and RL (5 Lagrangian
steps with adaptive KL) started with `--nproc 2`. Every rank must hold the same beta and lambda at every step,
and the run must leave one set of outputs and one tracking run per stage (rank 0 writes, the others do not).
Real torchrun, real gloo process group, real TRL/accelerate DDP; nothing is mocked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from saferlhf.artifacts import Layout

pytestmark = pytest.mark.slow

RANK_LINE = re.compile(r"rl step (\d+) rank (\d+)/2: beta=(\S+) lambda=(\S+)")


def _cli(root: Path, config: Path, *words: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAFERLHF_TRACKING": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-m", "saferlhf.cli", "--config", str(config), "--output-root",
                           str(root), *words, "--nproc", "2"], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    from saferlhf.config import DataConfig, PolicyConfig
    from saferlhf.data import run_generate
    from saferlhf.policy import run_init

    root = tmp_path_factory.mktemp("ddp")
    layout = Layout(root)
    run_generate(DataConfig(), layout)
    run_init(PolicyConfig(n_layer=1, n_head=2, n_embd=64, n_positions=128, vocab_size=600, num_epochs=1), layout)
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "registry": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"},
        "reward": {"num_epochs": 1, "max_train_samples": 64, "max_length": 32, "batch_size": 8, "warmup_steps": 1,
                   "mc_dropout_passes": 2, "eval_batch_size": 64},
        # lambda_lr large and a low cost threshold so lambda visibly moves in 5 steps
        "rl": {"max_steps": 5, "batch_size": 2, "num_generations": 2, "max_new_tokens": 8, "learning_rate": 1e-2,
               "objective": "lagrangian", "adaptive_kl": True, "kl_horizon": 2, "lambda_lr": 0.5,
               "cost_threshold": 0.0}}))
    reward = _cli(root, config, "reward", "train")
    assert reward.returncode == 0, reward.stderr[-3000:]
    rl = _cli(root, config, "policy", "train-rl")
    assert rl.returncode == 0, rl.stderr[-3000:]
    return layout, reward, rl


def test_every_rank_holds_the_same_beta_and_lambda(two_process_run):
    layout, _, rl = two_process_run
    per_rank: dict[str, list] = {}
    for step, rank, beta, lam in RANK_LINE.findall(rl.stdout + rl.stderr):
        per_rank.setdefault(rank, []).append((int(step), float(beta), float(lam)))
    assert sorted(per_rank) == ["0", "1"], (rl.stderr[-2000:])
    assert [s for s, _, _ in per_rank["0"]] == [1, 2, 3, 4, 5]
    assert per_rank["0"] == per_rank["1"]  # exact: repr() round-trips floats
    lams = [lam for _, _, lam in per_rank["0"]]
    betas = [beta for _, beta, _ in per_rank["0"]]
    assert len(set(lams)) > 1 and len(set(betas)) > 1  # both controllers moved: the comparison means something


def test_one_set_of_outputs_and_one_tracking_run_per_stage(two_process_run):
    import json

    import mlflow

    layout, reward, rl = two_process_run
    stats = json.loads((layout.rl_policy / "training_stats.json").read_text())
    assert len(stats) == 5
    assert (layout.rl_policy / "model.safetensors").is_file()
    assert not list(layout.rl_policy.rglob("*.bin")) and not list(layout.reward_model.rglob("*.bin"))  # no pickles
    assert (layout.reward_model / "metrics.json").is_file() and (layout.reward_model / "model.safetensors").is_file()
    # the CLI prints the result once (rank 0): one JSON document per command
    assert rl.stdout.count('"steps": 5') == 1 and reward.stdout.count('"pairwise_accuracy"') <= 1
    mlflow.set_tracking_uri(f"sqlite:///{layout.root / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    names = sorted(r.info.run_name for r in runs)
    assert names.count("train-reward") == 1 and names.count("train-rl") == 1, names
