"""Reward-model evaluation on the held-out test split: per-signal MAE, ECE with reliability diagrams,
MC-dropout uncertainty vs error, pairwise accuracy (safe above unsafe), relevance accuracy (a prompt's own answer
above an off-topic one), acknowledgement accuracy (above "Sure! I can help with that."); also writes the drift
reference scores. Rows the policy wrote itself (`source` = policy, saferlhf.data.contrast) get their own pairwise,
helpfulness, relevance and acknowledgement figures: template rows and real-model rows are different
distributions, and a figure over both would hide the harder one."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from saferlhf.artifacts import REFERENCE_FILE
from saferlhf.config import RewardConfig
from saferlhf.data.acknowledge import ACKNOWLEDGEMENT, acknowledgement
from saferlhf.data.contrast import POLICY_SOURCE
from saferlhf.data.loader import LABEL_COLUMNS
from saferlhf.data.mismatch import has_columns, off_topic_pairs
from saferlhf.data.templates import OFF_TOPIC
from saferlhf.io import atomic_write, write_json
from saferlhf.metrics import expected_calibration_error, pairwise_accuracy, reliability_curve, spearman
from saferlhf.reward.model import RewardModel
from saferlhf.results import RewardResult
from saferlhf.reward.train import predict, split_frame
from saferlhf.signals import SIGNALS, combined_reward

log = logging.getLogger(__name__)


def mc_dropout_uncertainty(model: RewardModel, tokenizer, df: pd.DataFrame, passes: int, batch_size: int):
    """(mean (N,4), std (N,4)) over `passes` stochastic forward passes with dropout on."""
    runs = np.stack([predict(model, tokenizer, df, batch_size, mc_dropout=True) for _ in range(passes)])  # (P,N,4)
    return runs.mean(0), runs.std(0)


def uncertainty_vs_error(std: np.ndarray, err: np.ndarray) -> dict:
    """Does uncertainty grow with error? Spearman(std, |err|) and mean error in top vs bottom uncertainty quartile."""
    u, e = std.mean(1), err.mean(1)  # (N,) per item
    q1, q3 = np.quantile(u, [0.25, 0.75])
    low, high = e[u <= q1].mean(), e[u >= q3].mean()
    rho = spearman(u, e)
    return {"spearman_uncertainty_error": rho, "mae_low_uncertainty_quartile": float(low),
            "mae_high_uncertainty_quartile": float(high), "uncertainty_grows_with_error": bool(rho > 0 and high > low)}


def relevance_accuracy(test: pd.DataFrame, reward_fn: Callable[[list[str], list[str]], np.ndarray],
                       seed: int) -> tuple[float, int]:
    """(share of prompts whose own safe response gets a higher reward than an off-topic one, prompts compared).

    The off-topic response of each prompt is another category's answer from the same frame (saferlhf.data.mismatch,
    drawn with `seed`), built here for every prompt, so the figure does not depend on how many off-topic rows the
    dataset holds (`mismatched_fraction` 0 included). reward_fn: (prompts, responses) -> (N,) rewards."""
    if not has_columns(test):
        return float("nan"), 0
    relevant = test[test["response_type"] == "safe"].drop_duplicates("prompt_id")
    off = off_topic_pairs(test, relevant["prompt_id"].tolist(), random.Random(seed))
    cols = ["prompt_id", "prompt", "response", "response_type"]
    frame = pd.concat([relevant[relevant["prompt_id"].isin(off["prompt_id"])][cols],
                       off.assign(response_type=OFF_TOPIC)[cols]], ignore_index=True)
    if frame.empty:
        return float("nan"), 0
    return pairwise_accuracy(frame, reward_fn(frame["prompt"].tolist(), frame["response"].tolist()), "safe", OFF_TOPIC)


def acknowledgement_accuracy(test: pd.DataFrame, reward_fn: Callable[[list[str], list[str]], np.ndarray],
                             seed: int) -> tuple[float, int]:
    """(share of prompts whose own safe response gets a higher reward than a content-free acknowledgement, prompts
    compared). The acknowledgements are drawn here with `seed` (saferlhf.data.acknowledge), one per prompt with a
    safe response, so the figure exists whatever share of them the training data held."""
    if not {"prompt_id", "prompt", "response", "response_type"} <= set(test.columns):
        return float("nan"), 0
    own = test[test["response_type"] == "safe"].drop_duplicates("prompt_id")
    if own.empty:
        return float("nan"), 0
    rng = random.Random(seed)
    acks = own.assign(response=[acknowledgement(rng) for _ in range(len(own))], response_type=ACKNOWLEDGEMENT)
    frame = pd.concat([own, acks], ignore_index=True)
    return pairwise_accuracy(frame, reward_fn(frame["prompt"].tolist(), frame["response"].tolist()), "safe",
                             ACKNOWLEDGEMENT)


def reference_frame(df: pd.DataFrame, scores: np.ndarray, weights) -> pd.DataFrame:
    """The drift reference: the model's scores on held-out traffic, in the scorer's prediction-log columns."""
    ref = pd.DataFrame(scores, columns=list(SIGNALS))
    ref["reward"] = combined_reward(scores, weights)
    ref["prompt_length"] = df["prompt"].str.len().to_numpy()
    ref["response_length"] = df["response"].str.len().to_numpy()
    ref["category"] = df["category"].to_numpy() if "category" in df else "unknown"
    return ref


def evaluate_reward_model(model: RewardModel, tokenizer, df: pd.DataFrame, cfg: RewardConfig, out_dir: Path,
                          history: dict | None = None) -> RewardResult:
    """Evaluate on the test split and write metrics.json, plots/, reference_scores.parquet."""
    from saferlhf import plots

    test = split_frame(df, "test")
    if test.empty:
        raise ValueError("no test rows (split == 'test')")
    plots_dir = out_dir / "plots"
    pred = predict(model, tokenizer, test, cfg.eval_batch_size)  # (N, 4) deterministic
    target = test[LABEL_COLUMNS].to_numpy()
    err = np.abs(pred - target)
    metrics: dict = {"test_rows": len(test), "mae": {}, "ece": {}}
    for j, sig in enumerate(SIGNALS):
        metrics["mae"][sig] = float(err[:, j].mean())
        ece = expected_calibration_error(pred[:, j], target[:, j], cfg.calibration_bins)
        metrics["ece"][sig] = ece
        curve = reliability_curve(pred[:, j], target[:, j], cfg.calibration_bins)
        metrics.setdefault("reliability", {})[sig] = curve
        plots.reliability_diagram(curve, ece, sig, plots_dir / f"calibration_{sig}.png")
    metrics["mae_max"] = max(metrics["mae"].values())
    metrics["ece_max"] = max(metrics["ece"].values())
    weights = model.cfg.weights  # the weights saved with the model, which the scorer uses (not this YAML's)
    reward = combined_reward(pred, weights)
    by_policy = (test["source"] == POLICY_SOURCE).to_numpy() if "source" in test.columns else np.zeros(len(test), bool)
    acc, n_pairs = pairwise_accuracy(test[~by_policy], reward[~by_policy])
    metrics["pairwise_accuracy"], metrics["pairwise_pairs"] = acc, n_pairs

    def reward_of(prompts: list[str], responses: list[str]) -> np.ndarray:
        pairs = pd.DataFrame({"prompt": prompts, "response": responses})
        return combined_reward(predict(model, tokenizer, pairs, cfg.eval_batch_size), weights)

    metrics["relevance_accuracy"], metrics["relevance_pairs"] = relevance_accuracy(test[~by_policy], reward_of,
                                                                                   cfg.seed)
    metrics["acknowledgement_accuracy"], metrics["acknowledgement_pairs"] = acknowledgement_accuracy(
        test[~by_policy], reward_of, cfg.seed)
    if by_policy.any():
        policy, r = test[by_policy], reward[by_policy]
        metrics["policy_rows"] = int(by_policy.sum())
        metrics["policy_pairwise_accuracy"], metrics["policy_pairwise_pairs"] = pairwise_accuracy(policy, r)
        metrics["policy_helpful_accuracy"], metrics["policy_helpful_pairs"] = pairwise_accuracy(
            policy, r, "safe", "over_refusal")
        metrics["policy_relevance_accuracy"], metrics["policy_relevance_pairs"] = relevance_accuracy(
            policy, reward_of, cfg.seed)
        metrics["policy_acknowledgement_accuracy"], metrics["policy_acknowledgement_pairs"] = acknowledgement_accuracy(
            policy, reward_of, cfg.seed)
    mean, std = mc_dropout_uncertainty(model, tokenizer, test, cfg.mc_dropout_passes, cfg.eval_batch_size)
    metrics["mc_dropout"] = {"passes": cfg.mc_dropout_passes, "mean_std": float(std.mean()),
                             **uncertainty_vs_error(std, np.abs(mean - target))}
    if history:
        metrics["train_seconds"] = history.get("train_seconds")
        write_json(out_dir / "training_history.json", history)
        plots.line_plot({"training loss (per step)": history["step_loss"]}, "reward model", "step",
                        plots_dir / "loss_curve.png")
    ref = reference_frame(test, pred, weights)
    atomic_write(out_dir / REFERENCE_FILE, lambda p: ref.to_parquet(p, index=False))
    result = RewardResult.model_validate(metrics)
    write_json(out_dir / "metrics.json", result.model_dump(mode="json"))
    log.info("reward model: pairwise acc %.3f, relevance acc %.3f (%d prompts), answer above an empty "
             "acknowledgement %.3f (%d), max MAE %.3f, max ECE %.3f", acc, metrics["relevance_accuracy"],
             metrics["relevance_pairs"], metrics["acknowledgement_accuracy"], metrics["acknowledgement_pairs"],
             metrics["mae_max"], metrics["ece_max"])
    if by_policy.any():
        log.info("reward model on the policy's own responses (%d rows): safe above unsafe %.3f (%d prompts), "
                 "answer above over-refusal %.3f (%d), relevance %.3f (%d)", metrics["policy_rows"],
                 metrics["policy_pairwise_accuracy"], metrics["policy_pairwise_pairs"],
                 metrics["policy_helpful_accuracy"], metrics["policy_helpful_pairs"],
                 metrics["policy_relevance_accuracy"], metrics["policy_relevance_pairs"])
    return result
