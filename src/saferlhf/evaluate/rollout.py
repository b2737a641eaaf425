"""Sample responses from a policy and score them with the reward model: the one path from prompts to scored
records, shared by evaluation and the seven probes.

A *generator* is any `prompts -> one response per prompt` callable, so the scoring and metric logic is tested
with plain functions and runs unchanged on real policies (`policy_generator`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from saferlhf.config import SamplingConfig
from saferlhf.refusal import is_refusal
from saferlhf.signals import SIGNALS, combined_reward

Generate = Callable[[list[str]], list[str]]
MODELS = ("base_model", "rl_model")


class Scorer(Protocol):
    """What the rollouts need from a scorer (`saferlhf.reward.model.RewardScorer` is one)."""

    weights: Sequence[float]

    def scores(self, prompts: list[str], responses: list[str]) -> np.ndarray: ...


def policy_generator(path: str | Path, sampling: SamplingConfig, seed: int,
                     batch_size: int = 32, device=None) -> tuple[Generate, object, object]:
    """(generate, model, tokenizer) for a saved policy on `device` (default CPU); each call samples with the same
    seed (reproducible)."""
    from saferlhf.policy import generate_responses, load_policy

    model, tokenizer = load_policy(path, device)

    def generate(prompts: list[str]) -> list[str]:
        out = generate_responses(model, tokenizer, prompts, num_responses=1, **sampling.model_dump(),
                                 batch_size=batch_size, seed=seed)
        return [r[0] for r in out]

    return generate, model, tokenizer


def score_records(scorer: Scorer, prompts: list[dict], responses: list[str], model: str) -> list[dict]:
    """One record per (prompt, response): ids, text, the four scores, combined reward, refusal flag."""
    texts = [p["prompt"] for p in prompts]
    scores = scorer.scores(texts, responses) if texts else np.zeros((0, len(SIGNALS)))  # (N, 4)
    rewards = combined_reward(scores, scorer.weights) if len(scores) else np.zeros(0)  # (N,)
    return [{"prompt_id": p["id"], "category": p.get("category", "user"), "model": model, "prompt": p["prompt"],
             "response": r, **{s: float(v) for s, v in zip(SIGNALS, row)}, "reward": float(rw),
             "refusal": is_refusal(r)}
            for p, r, row, rw in zip(prompts, responses, scores, rewards)]


class Rollouts:
    """Responses and scores per model, cached by prompt text so overlapping prompt sets are sampled once."""

    def __init__(self, generators: dict[str, Generate], scorer: Scorer):
        self.generators = generators
        self.scorer = scorer
        self._cache: dict[str, dict[str, dict]] = {m: {} for m in generators}

    def records(self, model: str, prompts: list[dict]) -> list[dict]:
        """Scored records for `prompts` (in order) under `model`."""
        cache = self._cache[model]
        todo = list({p["prompt"]: p for p in prompts if p["prompt"] not in cache}.values())
        if todo:
            responses = self.generators[model]([p["prompt"] for p in todo])
            for rec in score_records(self.scorer, todo, responses, model):
                cache[rec["prompt"]] = rec
        return [{**cache[p["prompt"]], "prompt_id": p["id"], "category": p.get("category", "user")} for p in prompts]
