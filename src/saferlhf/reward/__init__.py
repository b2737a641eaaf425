"""Reward-model stage: train the four-head model, evaluate it, save it."""

from __future__ import annotations

import logging

from saferlhf import distributed
from saferlhf.artifacts import Layout, resolve
from saferlhf.config import RewardConfig
from saferlhf.results import RewardResult

log = logging.getLogger(__name__)


def run_train(cfg: RewardConfig, layout: Layout) -> RewardResult:
    """`saferlhf reward train`: train on the train split, save, evaluate on test; returns metrics."""
    from saferlhf.data.loader import load_labels
    from saferlhf.reward.evaluate import evaluate_reward_model
    from saferlhf.reward.train import train_reward_model

    data_path = layout.training_labels(cfg.data_path)
    out_dir = resolve(cfg.output_dir, layout.reward_model)
    df = load_labels(data_path)
    model, tokenizer, history = train_reward_model(cfg, df, out_dir)
    if distributed.world_size() > 1:  # rank 0 writes the one set of files; the others read its report back
        if distributed.is_main():
            model.save(out_dir, tokenizer)
            evaluate_reward_model(model, tokenizer, df, cfg, out_dir, history)
        distributed.barrier()
        return RewardResult.load(out_dir / "metrics.json")
    model.save(out_dir, tokenizer)
    return evaluate_reward_model(model, tokenizer, df, cfg, out_dir, history)


def run_evaluate(cfg: RewardConfig, layout: Layout) -> RewardResult:
    """`saferlhf reward evaluate`: evaluate a saved reward model on the test split."""
    from saferlhf.data.loader import load_labels
    from saferlhf.device import compute_of
    from saferlhf.reward.evaluate import evaluate_reward_model
    from saferlhf.reward.model import RewardModel, load_tokenizer

    out_dir = resolve(cfg.output_dir, layout.reward_model)
    df = load_labels(layout.training_labels(cfg.data_path))
    model = RewardModel.load(out_dir).to(compute_of(cfg).device)
    return evaluate_reward_model(model, load_tokenizer(out_dir), df, cfg, out_dir)
