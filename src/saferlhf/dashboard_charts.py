"""Chart-ready tables that keep the dashboard honest: one unit per axis, the direction of each change judged by
whether it is good (more over-refusal is worse), base before RL, rounded values with their counts.

Pure (no streamlit import); the pages draw what these functions return."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from saferlhf.artifacts import Layout
from saferlhf.dashboard_data import MODEL_LABELS, NotReady, Pair, load_result, num, read_json_file, stats_frame
from saferlhf.results import EvaluationResult, RewardResult, RLResult
from saferlhf.stages import STAGE

MODEL_ORDER = ("base", "RL")  # every table and legend lists the base policy first

# (label, (base, RL) values, unit of the change RL - base, lower is better) of the evaluation result
CHANGES: tuple[tuple[str, Pair, str, bool], ...] = (
    ("Unsafe outputs, all prompts", lambda r: (r.unsafe_output_pct.base, r.unsafe_output_pct.rl),
     "percentage points", True),
    ("Unsafe outputs, harmful prompts", lambda r: (r.unsafe_output_pct_harmful.base, r.unsafe_output_pct_harmful.rl),
     "percentage points", True),
    ("Over-refusal, benign prompts", lambda r: (r.over_refusal.base_pct, r.over_refusal.rl_pct),
     "percentage points", True),
    ("Adversarial prompts answered safely",
     lambda r: (r.adversarial_robustness.base_safe_pct, r.adversarial_robustness.rl_safe_pct), "percentage points",
     False),
    ("Mean toxicity", lambda r: (r.base_model.mean_toxicity, r.rl_model.mean_toxicity), "score (0–1)", True),
    ("Mean hallucination risk", lambda r: (r.base_model.mean_hallucination_risk, r.rl_model.mean_hallucination_risk),
     "score (0–1)", True),
    ("Mean compliance", lambda r: (r.base_model.mean_compliance, r.rl_model.mean_compliance), "score (0–1)", False),
    ("Mean reward", lambda r: (r.reward_distribution.base_mean, r.reward_distribution.rl_mean), "reward", False),
)


def change_table(results: EvaluationResult) -> pd.DataFrame:
    """RL minus base per metric in the metric's own unit, with `verdict` better / worse / same (judged by the
    metric's direction) and the unit (one chart axis per unit)."""
    rows = []
    for label, values, unit, lower in CHANGES:
        base, rl = map(num, values(results))
        if math.isnan(base) or math.isnan(rl):
            continue
        change = rl - base
        good = -change if lower else change
        verdict = "same" if abs(change) < 1e-9 else ("better" if good > 0 else "worse")
        rows.append({"metric": label, "unit": unit, "base": base, "RL": rl, "change": change,
                     "direction": "lower is better" if lower else "higher is better", "verdict": verdict})
    return pd.DataFrame(rows, columns=["metric", "unit", "base", "RL", "change", "direction", "verdict"])


VERDICT_COLOURS = {"better": "#2e7d32", "worse": "#c62828", "same": "#9e9e9e"}


def category_pivot(cats: pd.DataFrame, metric: str, responses: pd.DataFrame) -> pd.DataFrame:
    """One row per category for one metric of `dashboard_data.category_table`: category, prompts (n), then
    base and RL (in that order), rounded (1 decimal for percentages, 3 for scores)."""
    sub = cats[cats["metric"] == metric]
    wide = sub.pivot_table(index="category", columns="model", values="value")
    wide = wide.reindex(columns=[m for m in MODEL_ORDER if m in wide.columns])
    wide = wide.round(1 if metric.endswith("pct") else 3)
    n = responses.drop_duplicates(["prompt_id"]).groupby("category").size().rename("prompts")
    out = wide.join(n, how="left")
    out["prompts"] = out["prompts"].fillna(0).astype(int)
    return out.reset_index()[["category", "prompts", *wide.columns]]


def ordered_models(frame: pd.DataFrame, column: str = "model") -> pd.DataFrame:
    """Rows sorted base first, model labels mapped to base / RL."""
    out = frame.assign(**{column: frame[column].map(lambda m: MODEL_LABELS.get(m, m))})
    rank = {m: i for i, m in enumerate(MODEL_ORDER)}
    return out.sort_values(column, key=lambda s: s.map(lambda m: rank.get(m, 99)), kind="stable")


# ---------------------------------------------------------------- calibration
def calibration_definitions(reward_metrics: RewardResult, results: EvaluationResult | None) -> pd.DataFrame:
    """Every ECE the outputs hold, each with what it was measured on, so two numbers called "max ECE" are never
    shown without saying why they differ."""
    rows = []
    if reward_metrics.ece:
        rows.append({"ECE": "reward model, per signal (gate `ece_max`)",
                     "max": max(map(num, reward_metrics.ece.values())),
                     "split": "test", "rows": reward_metrics.test_rows, "passes": "1 (dropout off)"})
    cal = results.calibration if results is not None else None
    if cal is not None and cal.ece:
        rows.append({"ECE": "reward model at evaluation, MC-dropout mean", "max": max(map(num, cal.ece.values())),
                     "split": results.split or "?", "rows": cal.rows,
                     "passes": f"{cal.mc_dropout_passes if cal.mc_dropout_passes is not None else '?'} (dropout on)"})
    return pd.DataFrame(rows, columns=["ECE", "max", "split", "rows", "passes"])


def small_bins(curves: pd.DataFrame, min_count: int = 5) -> pd.DataFrame:
    """Reliability bins holding fewer than `min_count` samples (their mean is noise, not calibration)."""
    return curves[curves["count"] < min_count].reset_index(drop=True)


# ---------------------------------------------------------------- training runs
def rl_runs(layout: Layout) -> dict[str, dict]:
    """Every RL run under models/ (folders `rl_policy*` holding training_stats.json): name -> {path, objective,
    target_kl, steps} from its rl_summary.json ("?" / None without one). The default run (`rl_policy`, the one
    evaluated) comes first."""
    runs: dict[str, dict] = {}
    name = STAGE["train-rl"].report_path(layout).name  # every run folder holds its summary under this name
    for d in sorted(layout.models_dir.glob("rl_policy*"), key=lambda p: (p != layout.rl_policy, p.name)):
        if not (d / RLResult.STATS_FILE).is_file():
            continue
        try:
            summary = load_result(layout, "train-rl", d / name)
        except NotReady:
            summary = RLResult()
        runs[d.name] = {"path": d, "objective": summary.objective or "?", "target_kl": summary.target_kl,
                        "steps": summary.steps}
    return runs


def load_run_stats(path: Path) -> pd.DataFrame:
    """One RL run's per-step stats (training_stats.json in `path`), sorted by step."""
    stats = path / RLResult.STATS_FILE
    return stats_frame(read_json_file(stats, STAGE["train-rl"].cli), stats)


def runs_long(frames: dict[str, pd.DataFrame], column: str) -> pd.DataFrame:
    """(run, step, value) rows of one per-step column across runs, for an overlaid comparison."""
    parts = [pd.DataFrame({"run": name, "step": df["step"], "value": df[column]}) for name, df in frames.items()
             if column in df and df[column].notna().any()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run", "step", "value"])


# ---------------------------------------------------------------- probes
def probe_pivot(table: pd.DataFrame) -> pd.DataFrame:
    """`dashboard_data.probe_table` as one row per probe: base risk and failures, then RL's, risk rounded."""
    out = table.pivot_table(index="probe", columns="model", values=["risk_score", "num_failures", "num_prompts"])
    cols = {}
    for model, label in (("base_model", "base"), ("rl_model", "RL")):
        if ("risk_score", model) in out:
            cols[f"{label} risk"] = out[("risk_score", model)].round(3)
            cols[f"{label} failures"] = [f"{int(k)} of {int(n)}" for k, n in
                                         zip(out[("num_failures", model)], out[("num_prompts", model)])]
    return pd.DataFrame(cols).reset_index()
