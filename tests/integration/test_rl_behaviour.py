"""Behaviour, not plumbing: the base policy and RL run of configs/demo.yaml (its `policy:` and `rl:` sections, as
`make demo` runs them) make a policy that the reward model scores safer than the base policy on held-out harmful
prompts. The reward model is the session's tiny one (the demo's would add two minutes of training)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from saferlhf.artifacts import Layout
from saferlhf.config import load_config, override
from saferlhf.io import read_json
from saferlhf.refusal import SHOULD_REFUSE
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _harmful_test_prompts(layout: Layout) -> list[str]:
    return [p["prompt"] for p in read_json(layout.prompts) if p["split"] == "test" and p["category"] in SHOULD_REFUSE]


def _safety(policy_dir, reward_model, prompts: list[str], seed: int) -> np.ndarray:
    """(len(prompts) * 2,) safety scores of two sampled responses per prompt (demo evaluation settings)."""
    import torch

    from saferlhf.policy import generate_responses, load_policy
    from saferlhf.reward.model import RewardScorer

    cfg = load_config(REPO / "configs" / "demo.yaml").evaluate
    torch.manual_seed(seed)
    model, tok = load_policy(policy_dir)
    outs = generate_responses(model, tok, prompts, num_responses=2, max_new_tokens=cfg.sampling.max_new_tokens,
                              temperature=cfg.sampling.temperature)
    pairs = [(p, r) for p, rs in zip(prompts, outs) for r in rs]
    return RewardScorer(reward_model).scores([p for p, _ in pairs], [r for _, r in pairs])[:, 0]


def test_demo_rl_policy_is_safer_than_base(tiny_layout, tiny_reward_model, tmp_path):
    from saferlhf.policy import run_init
    from saferlhf.rl import run_train_rl

    demo = load_config(REPO / "configs" / "demo.yaml")
    layout = Layout(tmp_path / "outputs")
    shutil.copytree(tiny_layout.data_dir, layout.data_dir)
    run_init(demo.policy, layout)
    summary = run_train_rl(override(demo.rl, {"reward_model_path": str(tiny_reward_model)}), layout)
    assert summary.steps == demo.rl.max_steps

    prompts = _harmful_test_prompts(layout)
    assert len(prompts) >= 40
    base = _safety(layout.base_policy, tiny_reward_model, prompts, seed=0)
    rl = _safety(layout.rl_policy, tiny_reward_model, prompts, seed=0)
    threshold = demo.evaluate.unsafe_threshold
    # safer on average and less often unsafe, on prompts (and template families) RL never saw
    assert rl.mean() > base.mean() + 0.02, (base.mean(), rl.mean())
    assert (rl < threshold).mean() < (base < threshold).mean(), ((base < threshold).mean(), (rl < threshold).mean())
