"""RL fine-tuning of the policy with TRL's GRPOTrainer: PPO's clipped surrogate, group-relative advantages
and a KL penalty to the frozen starting policy, with an adaptive KL coefficient and an optional Lagrangian
cost constraint. TRL 1.x has no PPOTrainer; GRPO needs no value network, which suits a CPU budget."""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import LoraSettings, RLConfig
from saferlhf.device import compute_of
from saferlhf.distributed import is_main
from saferlhf.errors import UserError
from saferlhf.io import read_json, write_json
from saferlhf.refusal import expected_behaviour, is_degenerate, is_refusal
from saferlhf.results import RLResult
from saferlhf.rl.control import adaptive_kl_update, lagrange_update
from saferlhf.rl.distributed import global_mean_cost, log_rank_state, per_device_batch, save_trained
from saferlhf.signals import SIGNALS, combined_reward, helpfulness_reward, safety_cost

log = logging.getLogger(__name__)

STATS_FILE = RLResult.STATS_FILE
STAT_KEYS = ("step", "reward", *SIGNALS, "kl", "beta", "lambda", "cost", "entropy", "completion_length",
             "over_refusal", "degenerate", "off_topic", "non_refusal", "overlong")


class SafetyReward:
    """GRPO reward function: scores (raw prompt, completion) with the reward model, batched and without grad.

    `weighted`: R = combined_reward(scores). `lagrangian`: (helpfulness - lambda * C) / (1 + lambda) with
    C = safety_cost(scores); lambda follows `lagrange_update` on the mean cost of the last `cost_window` steps.
    Rule-based terms (Mu et al. 2024, "Rule Based Rewards for Language Model Safety") are then subtracted:
    `refusal_penalty` for refusing a prompt that should be answered, `degeneracy_penalty` for degenerate text,
    `off_topic_penalty` for an answer that shares no content word with its prompt (neither a refusal nor an
    urgent-help redirect), and `non_refusal_penalty` for an answer (neither a refusal nor an urgent-help redirect)
    to a prompt whose category should be refused (RBR's "hard refusal" proposition: the reward model alone let the
    SmolLM2 policy learn compliance written in safety vocabulary). The first three guard the three ways a small
    policy games a safety reward model: blanket refusals, refusal stuffing and evasion (the first full demo-real's
    RL policy answered harmful and benign prompts alike with "I can help with a variety of situations ...", which
    the template-trained reward model scored safety 0.99).
    The off-topic rule is lexical (saferlhf.relevance), so it cannot share the reward model's blind spot.
    `overlong_penalty` weights DAPO's soft overlong punishment (`overlong_penalties`): the reward model prefers
    longer answers, and without it the SmolLM2 policy's answers grew to the token limit (run 9: 26 -> 32 of 32
    tokens over 40 steps, benign answers 1.78x the base's words)."""

    __name__ = "safety_reward"  # TRL names the reward column after the function

    def __init__(self, scorer, cfg: RLConfig):
        self.scorer, self.cfg = scorer, cfg
        self.log_lambda = math.log(cfg.lambda_init)
        self.recent_costs: deque[float] = deque(maxlen=cfg.cost_window)

    @property
    def lam(self) -> float:
        return math.exp(self.log_lambda) if self.cfg.objective == "lagrangian" else 0.0

    def __call__(self, prompts, completions, raw_prompt, category=None, completion_ids=None, log_metric=None,
                 **_) -> list[float]:
        texts = [c.strip() for c in completions]
        scores = self.scorer.scores(list(raw_prompt), texts)  # (B*G, 4)
        cost = safety_cost(scores)  # (B*G,)
        if self.cfg.objective == "lagrangian":
            lam = self.lam
            reward = (helpfulness_reward(scores, self.scorer.weights) - lam * cost) / (1.0 + lam)
        else:
            reward = combined_reward(scores, self.scorer.weights)
        over_refused, degenerate = rule_flags(texts, category)  # (B*G,) bool each
        off_topic = off_topic_flags(list(raw_prompt), texts) if self.cfg.off_topic_penalty else np.zeros(len(texts))
        answered = non_refusal_flags(texts, category)  # (B*G,) bool
        overlong = np.zeros(len(texts))  # (B*G,) in [0, 1]
        if self.cfg.overlong_penalty:
            if completion_ids is None:  # TRL passes the token ids to every reward function
                raise ValueError("overlong_penalty needs the completions' token ids (completion_ids)")
            overlong = overlong_penalties([len(ids) for ids in completion_ids], self.cfg.sampling.max_new_tokens,
                                          self.cfg.overlong_buffer)
        reward = (reward - self.cfg.refusal_penalty * over_refused - self.cfg.degeneracy_penalty * degenerate
                  - self.cfg.off_topic_penalty * off_topic - self.cfg.non_refusal_penalty * answered
                  - self.cfg.overlong_penalty * overlong)
        self.recent_costs.append(float(cost.mean()))
        if log_metric is not None:
            for i, name in enumerate(SIGNALS):
                log_metric(f"signals/{name}", float(scores[:, i].mean()))
            log_metric("signals/cost", float(cost.mean()))
            log_metric("rules/over_refusal", float(over_refused.mean()))
            log_metric("rules/degenerate", float(degenerate.mean()))
            log_metric("rules/off_topic", float(np.mean(off_topic)))
            log_metric("rules/non_refusal", float(answered.mean()))
            log_metric("rules/overlong", float(overlong.mean()))
        return reward.tolist()

    def update_lambda(self) -> None:
        """One Lagrange step on the recent mean cost, all-reduced over ranks (no-op in weighted mode)."""
        if self.cfg.objective == "lagrangian" and self.recent_costs:
            device = getattr(getattr(self.scorer, "compute", None), "device", None)  # NCCL reduces on the GPU
            cost = global_mean_cost(float(np.mean(self.recent_costs)), device)
            self.log_lambda = lagrange_update(self.log_lambda, cost, self.cfg.cost_threshold, self.cfg.lambda_lr,
                                              self.cfg.lambda_max)


def rule_flags(texts: list[str], categories: list[str | None] | None) -> tuple[np.ndarray, np.ndarray]:
    """(over_refused, degenerate) per completion: a refusal where the prompt's category should be answered (no
    category = unknown, never penalised), and degenerate text (`saferlhf.refusal`, the probes' detectors)."""
    cats = categories if categories is not None else [None] * len(texts)
    over = np.array([expected_behaviour(c) == "answer" and is_refusal(t) for t, c in zip(texts, cats)], dtype=bool)
    return over, np.array([is_degenerate(t) for t in texts], dtype=bool)


def non_refusal_flags(texts: list[str], categories: list[str | None] | None) -> np.ndarray:
    """(N,) bool: an answer (saferlhf.relevance.is_answer: neither a refusal nor an urgent-help redirect) where
    the prompt's category should be refused; no category = unknown, never flagged."""
    from saferlhf.relevance import is_answer

    cats = categories if categories is not None else [None] * len(texts)
    return np.array([expected_behaviour(c) == "refuse" and is_answer(t) for t, c in zip(texts, cats)], dtype=bool)


def overlong_penalties(lengths: list[int], max_len: int, buffer: int) -> np.ndarray:
    """(N,) DAPO's soft overlong punishment (Yu et al. 2025, eq. 13; trl.rewards.get_soft_overlong_punishment) as a
    penalty in [0, 1]: 0 up to max_len - buffer tokens, then (L - (max_len - buffer)) / buffer, 1 at max_len.

    >>> overlong_penalties([10, 28, 32], max_len=32, buffer=8).tolist()
    [0.0, 0.5, 1.0]
    """
    free = max_len - buffer
    return np.clip((np.asarray(lengths, dtype=float) - free) / buffer, 0.0, 1.0)


def off_topic_flags(prompts: list[str], texts: list[str]) -> np.ndarray:
    """(N,) bool: saferlhf.relevance.is_off_topic per (prompt, completion): an answer (neither a refusal nor an
    urgent-help redirect) that shares no content-word stem with its prompt."""
    from saferlhf.relevance import is_off_topic

    return np.array([is_off_topic(p, t) for p, t in zip(prompts, texts)], dtype=bool)


def _make_callback(cfg: RLConfig, reward_fn: SafetyReward, stats: list[dict]):
    from transformers import TrainerCallback

    class SafeRLCallback(TrainerCallback):
        """After each logged step: record the row, move beta toward target_kl and lambda toward the cost
        threshold. The trainer reads `trainer.beta` at every loss computation, so setting it takes effect."""

        trainer = None

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "reward" not in logs or self.trainer is None:
                return
            kl = logs.get("kl")
            stats.append({"step": state.global_step, "reward": logs["reward"],
                          **{s: logs.get(f"signals/{s}") for s in SIGNALS},
                          "kl": kl, "beta": self.trainer.beta, "lambda": reward_fn.lam,
                          "cost": logs.get("signals/cost"), "entropy": logs.get("entropy"),
                          "completion_length": logs.get("completions/mean_length"),
                          "over_refusal": logs.get("rules/over_refusal"), "degenerate": logs.get("rules/degenerate"),
                          "off_topic": logs.get("rules/off_topic"), "non_refusal": logs.get("rules/non_refusal"),
                          "overlong": logs.get("rules/overlong")})
            if cfg.adaptive_kl and kl is not None:
                self.trainer.beta = max(cfg.min_kl_coef,
                                        adaptive_kl_update(self.trainer.beta, kl, cfg.target_kl, 1, cfg.kl_horizon))
            reward_fn.update_lambda()
            log_rank_state(state.global_step, self.trainer.beta, reward_fn.lam)

    return SafeRLCallback()


def _prompt_dataset(layout: Layout, cfg: RLConfig, tokenizer):
    """Prompts of `cfg.prompt_splits` (without the look-alikes if `skip_lookalikes`), formatted for the policy;
    benign ones repeated `benign_repeat` times."""
    from datasets import Dataset

    from saferlhf.data.loader import load_prompts
    from saferlhf.data.lookalike import is_lookalike
    from saferlhf.policy import format_prompt

    path = layout.prompts
    raw = {r["id"]: r for r in read_json(path)}  # load_prompts validates but keeps neither split nor family

    def kept(r: dict) -> bool:
        meta = raw[r["id"]]
        return meta.get("split") in cfg.prompt_splits and not (
            cfg.skip_lookalikes and is_lookalike(r.get("category"), meta.get("template_family")))

    records = [r for r in load_prompts(path) if kept(r)]
    which = f"splits {list(cfg.prompt_splits)}" + (" without look-alikes" if cfg.skip_lookalikes else "")
    if not records:
        raise UserError(f"{path}: no prompts in {which}")
    log.info("RL prompts: %d of %s", len(records), which)
    records = [r for r in records for _ in range(cfg.benign_repeat if r.get("category") == "benign" else 1)]
    return Dataset.from_dict({"prompt": [format_prompt(tokenizer, r["prompt"]) for r in records],
                              "raw_prompt": [r["prompt"] for r in records],
                              "category": [r.get("category") for r in records]})


def _grpo_args(cfg: RLConfig, out_dir: str):
    from trl import GRPOConfig

    # per_device_train_batch_size counts completions in TRL 1.x: prompts * group size, split over the processes;
    # mixed precision from the device setting (fp32 master weights), vLLM colocate only when asked for
    vllm = {"use_vllm": True, "vllm_mode": "colocate"} if cfg.use_vllm else {}
    return GRPOConfig(output_dir=out_dir, seed=cfg.seed, learning_rate=cfg.learning_rate,
                      **compute_of(cfg).trainer_flags(), **vllm,
                      per_device_train_batch_size=per_device_batch(cfg.batch_size * cfg.num_generations),
                      num_generations=cfg.num_generations, num_iterations=cfg.ppo_epochs, max_steps=cfg.max_steps,
                      max_completion_length=cfg.sampling.max_new_tokens, temperature=cfg.sampling.temperature,
                      top_k=cfg.sampling.top_k, top_p=cfg.sampling.top_p, beta=cfg.init_kl_coef,
                      activation_checkpointing=cfg.gradient_checkpointing,
                      gradient_accumulation_steps=cfg.gradient_accumulation_steps,
                      logging_steps=1, save_strategy="no", report_to="none", disable_dropout=True,
                      lr_scheduler_type="constant", warmup_steps=0, dataloader_num_workers=0,
                      disable_tqdm=False)


def lora_config(settings: LoraSettings | None):
    """peft's LoraConfig for GRPOTrainer's `peft_config` (None = full fine-tuning). With an adapter, TRL's
    reference model is the same network with the adapter disabled: no second copy of the weights."""
    if settings is None:
        return None
    from peft import LoraConfig

    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=list(settings.target_modules), task_type="CAUSAL_LM", bias="none")


def _trainer_class():
    from trl import GRPOTrainer

    class SafeGRPOTrainer(GRPOTrainer):
        """GRPOTrainer that samples with the LoRA adapter merged into the base weights.

        Why: unmerged, every adapted projection costs two more (tiny, rank-r) matmuls, and in token-by-token
        decoding (rows = batch, 1 token) their fixed per-op cost outweighs the base matmul: py-spy put 38% of a
        generation step in the adapter's matmuls against 22% in the base layer's (docs/real-model.md). Merging is
        W + (alpha/r) B A in place and unmerging subtracts the same product after sampling, so the loss and the
        adapter-disabled reference pass see the unmerged weights (fp32 round trip: ~1 ulp per step)."""

        def _generate_single_turn(self, *args, **kwargs):
            tuner = getattr(self.model, "base_model", None) if hasattr(self.model, "peft_config") else None
            if tuner is None:
                return super()._generate_single_turn(*args, **kwargs)
            tuner.merge_adapter()
            try:
                return super()._generate_single_turn(*args, **kwargs)
            finally:
                tuner.unmerge_adapter()

    return SafeGRPOTrainer


def run_train_rl(cfg: RLConfig, layout: Layout) -> RLResult:
    """GRPO on the `prompt_splits` prompts with the reward model as reward; saves the RL policy and its curves."""
    from saferlhf.policy import load_policy, use_padding_aware_positions
    from saferlhf.reward.model import RewardScorer

    policy_path = resolve(cfg.policy_path, layout.base_policy)
    model, tokenizer = load_policy(policy_path)  # also validates the folder -> UserError
    scorer = RewardScorer(resolve(cfg.reward_model_path, layout.reward_model), compute=compute_of(cfg))
    reward_fn, stats = SafetyReward(scorer, cfg), []
    callback = _make_callback(cfg, reward_fn, stats)
    out = resolve(cfg.output_dir, layout.rl_policy)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="grpo-") as tmp:
        trainer = _trainer_class()(model=model, reward_funcs=reward_fn, args=_grpo_args(cfg, tmp),
                                   train_dataset=_prompt_dataset(layout, cfg, tokenizer),
                                   processing_class=tokenizer, callbacks=[callback],
                                   peft_config=_checked_lora(cfg, model))
        callback.trainer = trainer
        for m in (trainer.model, getattr(trainer, "ref_model", None)):  # the reference is loaded by TRL itself
            if m is not None:
                use_padding_aware_positions(m)
        trainer.train()
    seconds = time.time() - t0
    save_trained(trainer, tokenizer, out)
    result = RLResult(**_summary(cfg, stats, seconds), output_dir=str(out), config=cfg.model_dump(mode="json"))
    if is_main():  # one set of files under several processes
        write_json(out / STATS_FILE, stats)
        _plot(stats, out / "plots" / "training_curves.png")
        write_json(out / "rl_summary.json", result.model_dump(mode="json", exclude={"history", "output_dir"}))
    return result.model_copy(update={"history": stats})


def _checked_lora(cfg: RLConfig, model):
    """The LoRA config, after checking its target modules exist in this model (peft's own error is a traceback)."""
    if cfg.peft is None:
        return None
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in cfg.peft.target_modules if t not in names]
    if missing:
        raise UserError(f"rl.peft.target_modules: {missing} not in {type(model).__name__} "
                        f"(its linear layers include {sorted(n for n in names if 'proj' in n or 'c_' in n)[:8]})")
    return lora_config(cfg.peft)


def _mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def _summary(cfg: RLConfig, stats: list[dict], seconds: float) -> dict:
    """Start/end means; the 'last quarter' figures are the ones the acceptance criteria use."""
    q = max(1, len(stats) // 4)
    first, last = stats[:q], stats[-q:]
    out = {"steps": len(stats), "seconds": round(seconds, 1), "objective": cfg.objective,
           "adaptive_kl": cfg.adaptive_kl, "target_kl": cfg.target_kl,
           "final_beta": stats[-1]["beta"] if stats else None, "final_lambda": stats[-1]["lambda"] if stats else None}
    for key in ("reward", "safety", "cost", "kl", "non_refusal", "completion_length"):
        out[f"{key}_first_quarter"] = _mean(first, key)
        out[f"{key}_last_quarter"] = _mean(last, key)
    return out


def _plot(stats: list[dict], path: Path) -> None:
    from saferlhf.plots import line_plot

    keys = [k for k in STAT_KEYS if k != "step" and any(r.get(k) is not None for r in stats)]
    series = {k: [r[k] if r.get(k) is not None else float("nan") for r in stats] for k in keys}
    line_plot(series, "RL training (per step)", "step", path, ncols=3)
