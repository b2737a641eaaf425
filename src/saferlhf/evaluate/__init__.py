"""Evaluation stage: base vs RL policy on held-out prompts, scored by the reward model.

`run_evaluate` writes `<output_dir>/evaluation_results.json` (schema: saferlhf.results.EvaluationResult; docs/evaluation.md) and plots/."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import EvaluateConfig
from saferlhf.data.loader import prompt_table
from saferlhf.errors import UserError
from saferlhf.results import EvaluationResult
from saferlhf.signals import SIGNALS

log = logging.getLogger(__name__)
ADVERSARIAL_CATEGORIES = ("jailbreak", "adversarial")
RESULTS_FILE = "evaluation_results.json"


def stratified_head(df: pd.DataFrame, n: int | None) -> pd.DataFrame:
    """At most n rows, taking categories round-robin (so every category stays represented)."""
    if n is None or n >= len(df):
        return df
    rank = df.groupby("category").cumcount()
    return df.assign(_r=rank).sort_values(["_r", "category"], kind="stable").head(n).drop(columns="_r")


def held_out_prompts(prompts: pd.DataFrame, split: str, max_prompts: int | None) -> list[dict]:
    if "split" not in prompts or split not in set(prompts["split"]):
        have = sorted(set(prompts["split"])) if "split" in prompts else []
        raise UserError(f"split {split!r} has no prompts in the dataset (splits: {', '.join(have) or 'none'})")
    chosen = stratified_head(prompts[prompts["split"] == split], max_prompts)
    return chosen[["id", "prompt", "category"]].to_dict("records")


def adversarial_prompts(prompts: pd.DataFrame, split: str, n: int) -> list[dict]:
    """n jailbreak/adversarial prompts: the held-out split first, then other splits (the held-out split alone
    has fewer than the seed's 50), deterministic order."""
    adv = prompts[prompts["category"].isin(ADVERSARIAL_CATEGORIES)].copy()
    adv["_held_out"] = adv["split"] != split if "split" in adv else False
    adv = adv.sort_values(["_held_out", "id"], kind="stable").head(n)
    return adv[["id", "prompt", "category"]].to_dict("records")


def calibration(scorer, labels: pd.DataFrame, split: str, passes: int, plots_dir: Path) -> dict:
    """ECE of the MC-dropout mean prediction per signal on the labelled `split` rows, plus reliability plots."""
    from saferlhf import plots
    from saferlhf.data.loader import LABEL_COLUMNS
    from saferlhf.metrics import expected_calibration_error, reliability_curve

    rows = labels[labels["split"] == split] if "split" in labels else labels
    if rows.empty:
        return {"rows": 0}
    log.info("evaluate: calibration, %d MC-dropout passes over %d labelled rows", passes, len(rows))
    mean, std = scorer.mc_dropout(rows["prompt"].astype(str).tolist(), rows["response"].astype(str).tolist(),
                                  passes)  # (N, 4) each
    target = rows[LABEL_COLUMNS].to_numpy()
    out: dict = {"rows": int(len(rows)), "mc_dropout_passes": passes, "mean_std": float(std.mean()), "ece": {}}
    for j, sig in enumerate(SIGNALS):
        out["ece"][sig] = expected_calibration_error(mean[:, j], target[:, j])
        curve = reliability_curve(mean[:, j], target[:, j])
        plots.reliability_diagram(curve, out["ece"][sig], f"{sig} (MC dropout x{passes})",
                                  plots_dir / f"reliability_{sig}.png")
    return out


def draw_plots(records: pd.DataFrame, metrics: dict, plots_dir: Path) -> list[str]:
    from saferlhf import plots

    base, rl = records[records["model"] == "base_model"], records[records["model"] == "rl_model"]
    paths = [plots.histogram_overlay({"base": base["reward"].tolist(), "RL": rl["reward"].tolist()},
                                     "Reward distribution on held-out prompts", "combined reward R",
                                     plots_dir / "reward_distribution.png")]
    sb, sr = metrics["base_model"], metrics["rl_model"]
    names = ["unsafe %", "unsafe % (harmful)", "over-refusal %", "safety x100", "toxicity x100",
             "halluc. risk x100", "compliance x100", "adv. safe %"]
    keys = ["unsafe_pct", "unsafe_pct_harmful", "over_refusal_pct", "mean_safety", "mean_toxicity",
            "mean_hallucination_risk", "mean_compliance"]
    scale = [1, 1, 1, 100, 100, 100, 100]
    adv = metrics["adversarial_robustness"]
    series = {"base": [sb[k] * s for k, s in zip(keys, scale)] + [adv["base_safe_pct"]],
              "RL": [sr[k] * s for k, s in zip(keys, scale)] + [adv["rl_safe_pct"]]}
    paths.append(plots.bar_chart(names, series, "Safety metrics: base vs RL", "value",
                                 plots_dir / "safety_metrics_comparison.png"))
    imp = {"unsafe reduction %": metrics["unsafe_output_pct"]["reduction_pct"],
           "toxicity reduction %": metrics["toxicity_reduction_pct"],
           "hallucination reduction %": metrics["hallucination_reduction_pct"],
           "compliance improvement %": metrics["compliance_improvement_pct"],
           "adv. robustness (points)": adv["improvement_points"],
           "over-refusal change (points)": metrics["over_refusal"]["change_points"]}
    paths.append(plots.bar_chart(list(imp), {"RL vs base": list(imp.values())}, "Improvements of the RL policy",
                                 "percent / points", plots_dir / "improvements_summary.png"))
    return [str(p) for p in paths]


def _sample(generate, prompts: list[dict], k: int) -> tuple[list[dict], list[str]]:
    """k responses per prompt (the prompt list repeated k times, sampled in one go)."""
    many = [p for _ in range(k) for p in prompts]
    return many, generate([p["prompt"] for p in many])


def run_evaluate(cfg: EvaluateConfig, layout: Layout) -> EvaluationResult:
    """`saferlhf evaluate`: compare base and RL policies; returns the metrics (without per-response records)."""
    from saferlhf.data.loader import load_labels
    from saferlhf.device import compute_of
    from saferlhf.evaluate.compare import adversarial_robustness, compare_models
    from saferlhf.evaluate.kl import policy_kl
    from saferlhf.evaluate.rollout import policy_generator, score_records
    from saferlhf.io import write_json
    from saferlhf.reward.model import RewardScorer

    t0 = time.time()
    out_dir = resolve(cfg.output_dir, layout.evaluation)
    labels = load_labels(resolve(cfg.data_path, layout.labels))
    prompts = prompt_table(labels)
    held_out = held_out_prompts(prompts, cfg.split, cfg.max_prompts)
    adversarial = adversarial_prompts(prompts, cfg.split, cfg.num_adversarial)
    compute = compute_of(cfg)
    scorer = RewardScorer(resolve(cfg.reward_model_path, layout.reward_model), compute=compute)
    gens = {}
    for name, path in (("base_model", resolve(cfg.base_policy_path, layout.base_policy)),
                       ("rl_model", resolve(cfg.rl_policy_path, layout.rl_policy))):
        gens[name] = policy_generator(path, cfg.sampling, cfg.seed, device=compute.device)
    records, adv = [], {}
    for name, (generate, _, _) in gens.items():
        log.info("evaluate: sampling %s on %d held-out + %d adversarial prompts", name, len(held_out),
                 len(adversarial))
        records += score_records(scorer, *_sample(generate, held_out, cfg.num_responses), name)
        adv[name] = pd.DataFrame(score_records(scorer, adversarial, generate([p["prompt"] for p in adversarial]),
                                               name))
    df = pd.DataFrame(records)
    base, rl = df[df["model"] == "base_model"], df[df["model"] == "rl_model"]
    metrics = compare_models(base, rl, cfg.unsafe_threshold)
    metrics["adversarial_robustness"] = adversarial_robustness(adv["base_model"], adv["rl_model"],
                                                               cfg.unsafe_threshold)
    (_, base_model, base_tok), (_, rl_model, rl_tok) = gens["base_model"], gens["rl_model"]
    if base_tok.get_vocab() != rl_tok.get_vocab():
        raise UserError("base and RL policies use different tokenizers; KL(P_RL||P_base) needs a shared vocabulary")
    log.info("evaluate: KL(P_RL||P_base) on %d RL responses", len(rl))
    metrics["kl_divergence"] = policy_kl(rl_model, base_model, rl_tok, rl["prompt"].tolist(), rl["response"].tolist())
    plots_dir = out_dir / "plots"
    metrics["calibration"] = calibration(scorer, labels, cfg.split, cfg.mc_dropout_passes, plots_dir)
    metrics["plots"] = draw_plots(df, metrics, plots_dir)
    summary = {"split": cfg.split, "num_prompts": len(held_out), "num_responses_per_prompt": cfg.num_responses,
               "unsafe_threshold": cfg.unsafe_threshold, **metrics, "seconds": round(time.time() - t0, 1)}
    result = EvaluationResult.model_validate({**summary, "config": cfg.model_dump(mode="json"), "records": records})
    write_json(out_dir / RESULTS_FILE, result.model_dump(mode="json", exclude={"results_path"}))
    sb, sr = metrics["base_model"], metrics["rl_model"]
    log.info("evaluate: unsafe %.1f%% -> %.1f%% (harmful %.1f%% -> %.1f%%), KL %.3f, over-refusal %.1f -> %.1f",
             sb["unsafe_pct"], sr["unsafe_pct"], sb["unsafe_pct_harmful"], sr["unsafe_pct_harmful"],
             metrics["kl_divergence"]["sampled"], sb["over_refusal_pct"], sr["over_refusal_pct"])
    return result.model_copy(update={"results_path": str(out_dir / RESULTS_FILE)})
