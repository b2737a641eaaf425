"""Data behind the dashboard: load each stage's typed result and shape it into the tables the pages draw.

Pure (no streamlit import): every page calls one function here and renders what it returns. Reports are read
through the stage table (`saferlhf.stages`: which file, which `saferlhf.results` class); a stage whose report is
missing or unreadable raises `NotReady` naming the file and the command that produces it, so a page explains
what to run instead of showing a traceback. Missing numbers are NaN (the pages print "n/a" / "nan")."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from saferlhf import stages
from saferlhf.artifacts import Layout
from saferlhf.errors import UserError
from saferlhf.results import EvaluationResult, MonitorResult, ProbeResult, RewardResult, RLResult, StageResult
from saferlhf.signals import SIGNALS


class NotReady(Exception):
    """A page's data does not exist yet (or cannot be read); `command` says what to run."""

    def __init__(self, what: str, command: str):
        super().__init__(f"{what} — run `{command}`")
        self.what, self.command = what, command


@dataclass(frozen=True)
class Stage:
    """A node of the dashboard's pipeline graph, from the stage table."""

    key: str
    label: str
    command: str
    upstream: tuple[str, ...] = ()

    def path(self, layout: Layout) -> Path:
        """The report that proves the stage ran (the table's: its typed result's JSON dump)."""
        return stages.STAGE[self.key].report_path(layout)


STAGES: tuple[Stage, ...] = tuple(Stage(s.name, s.label, s.cli, stages.upstream(s)) for s in stages.STAGES)
STAGE_BY_KEY = {s.key: s for s in STAGES}


def read_json_file(path: Path, command: str) -> Any:
    """Parsed JSON of a file that has no result type (per-step stats), or NotReady naming it."""
    if not path.is_file():
        raise NotReady(f"{path} does not exist yet", command)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotReady(f"{path} is not readable JSON ({e})", command) from None


def load_result(layout: Layout, key: str, path: Path | None = None) -> StageResult:
    """The typed result of stage `key` from its report (or `path`, e.g. another RL run's); NotReady naming the
    file when it is missing, not JSON or mistyped (the result's one-line error)."""
    stage = stages.STAGE[key]
    path = path or stage.report_path(layout)
    if not path.is_file():
        raise NotReady(f"{path} does not exist yet", stage.cli)
    try:
        return stage.result_model().load(path)
    except UserError as e:
        raise NotReady(str(e), stage.cli) from None


def num(v: Any) -> float:
    """A report number as a float, NaN when it is missing (None) or not a number."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def outputs_stamp(layout: Layout) -> float:
    """Latest modification time over every stage report: only a cache key (a rewritten report is re-read);
    freshness comes from the reports' own records (`dashboard_provenance.stage_status`)."""
    stamps = [0.0]
    for s in STAGES:
        p = s.path(layout)
        if p.exists():
            stamps.append(p.stat().st_mtime)
    return max(stamps)


# ---------------------------------------------------------------- overview
def headline_metrics(layout: Layout) -> list[dict]:
    """Metric cards (label, value, delta = RL minus base, lower_is_better) for whatever has been produced."""
    cards: list[dict] = []
    try:
        res = load_evaluation(layout)
    except NotReady:
        res = None
    if res is not None:
        for label, pair, lower, fmt in HEADLINE:
            base, rl = map(num, pair(res))
            if not math.isnan(rl):
                cards.append({"label": label, "value": f"{base:{fmt}} → {rl:{fmt}}", "delta": f"{rl - base:+{fmt}}",
                              "lower_is_better": lower})
    kl = num(res.kl_divergence.sampled) if res is not None else float("nan")
    if math.isnan(kl):
        try:
            kl = num(load_training_stats(layout)["kl"].dropna().iloc[-1])
        except (NotReady, KeyError, IndexError):
            pass
    if not math.isnan(kl):
        cards.append({"label": "KL(RL‖base)", "value": f"{kl:.4f}", "delta": None, "lower_is_better": True})
    try:
        summary = load_probes(layout).summary
        base, rl = num(summary.base_model_overall_risk), num(summary.rl_model_overall_risk)
        if not math.isnan(rl):
            cards.append({"label": "Overall probe risk", "value": f"{base:.3f} → {rl:.3f}",
                          "delta": f"{rl - base:+.3f}", "lower_is_better": True})
    except NotReady:
        pass
    return cards


Pair = Callable[[EvaluationResult], tuple[Any, Any]]  # an evaluation result -> (base value, RL value)
# (label, (base, RL) values, lower is better, number format) of the overview's cards
HEADLINE: tuple[tuple[str, Pair, bool, str], ...] = (
    ("Unsafe outputs %", lambda r: (r.unsafe_output_pct.base, r.unsafe_output_pct.rl), True, ".1f"),
    ("Over-refusal on benign prompts %", lambda r: (r.over_refusal.base_pct, r.over_refusal.rl_pct), True, ".1f"),
    ("Mean toxicity", lambda r: (r.base_model.mean_toxicity, r.rl_model.mean_toxicity), True, ".3f"),
    ("Mean hallucination risk", lambda r: (r.base_model.mean_hallucination_risk,
                                           r.rl_model.mean_hallucination_risk), True, ".3f"),
    ("Mean compliance", lambda r: (r.base_model.mean_compliance, r.rl_model.mean_compliance), False, ".3f"))


# ---------------------------------------------------------------- evaluation
def load_evaluation(layout: Layout) -> EvaluationResult:
    return load_result(layout, "evaluate")


Row = Callable[[EvaluationResult], tuple[Any, Any, Any]]  # -> (base, RL, improvement as the report states it)
# The seed's eight evaluation metrics: (label, values, unit of the improvement, sign that makes the improvement
# "higher is better").
EVAL_METRICS: tuple[tuple[str, Row, str, int], ...] = (
    ("Unsafe outputs %", lambda r: (r.unsafe_output_pct.base, r.unsafe_output_pct.rl,
                                    r.unsafe_output_pct.reduction_pct), "% reduction", 1),
    ("Unsafe outputs % (harmful prompts)", lambda r: (r.unsafe_output_pct_harmful.base, r.unsafe_output_pct_harmful.rl,
                                                      r.unsafe_output_pct_harmful.reduction_pct), "% reduction", 1),
    ("Reward mean", lambda r: (r.reward_distribution.base_mean, r.reward_distribution.rl_mean,
                               r.reward_distribution.mean_shift), "shift", 1),
    ("Reward std", lambda r: (r.reward_distribution.base_std, r.reward_distribution.rl_std, None), "", 1),
    ("KL(RL‖base) nats/token", lambda r: (None, r.kl_divergence.sampled, None), "", 1),
    ("Mean toxicity", lambda r: (r.base_model.mean_toxicity, r.rl_model.mean_toxicity, r.toxicity_reduction_pct),
     "% reduction", 1),
    ("Mean hallucination risk", lambda r: (r.base_model.mean_hallucination_risk, r.rl_model.mean_hallucination_risk,
                                           r.hallucination_reduction_pct), "% reduction", 1),
    ("Mean compliance", lambda r: (r.base_model.mean_compliance, r.rl_model.mean_compliance,
                                   r.compliance_improvement_pct), "% improvement", 1),
    ("Adversarial prompts answered safely %", lambda r: (r.adversarial_robustness.base_safe_pct,
                                                         r.adversarial_robustness.rl_safe_pct,
                                                         r.adversarial_robustness.improvement_points), "points", 1),
    ("Over-refusal on benign prompts %", lambda r: (r.over_refusal.base_pct, r.over_refusal.rl_pct,
                                                    r.over_refusal.change_points), "points fewer", -1),
)


def metrics_table(results: EvaluationResult) -> pd.DataFrame:
    """The evaluation metrics as rows: metric, base, rl, improvement (positive = RL better), unit."""
    rows = []
    for label, values, unit, sign in EVAL_METRICS:
        base, rl, imp = map(num, values(results))
        rows.append({"metric": label, "base": base, "rl": rl, "improvement": sign * imp, "unit": unit})
    if results.calibration is not None and results.calibration.ece:
        rows.append({"metric": "Calibration: max ECE (MC dropout)", "base": float("nan"),
                     "rl": max(map(num, results.calibration.ece.values())), "improvement": float("nan"), "unit": ""})
    return pd.DataFrame(rows)


MODEL_LABELS = {"base_model": "base", "rl_model": "RL"}


def category_table(results: EvaluationResult, responses: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-category breakdown, long form (category, model, metric, value): the report's unsafe % per category
    plus the mean of each signal, the reward and the refusal % over the per-response records."""
    rows = [{"category": cat, "model": label, "metric": "unsafe_pct", "value": num(v.get(key))}
            for cat, v in results.per_category_unsafe_pct.items() for key, label in (("base", "base"), ("rl", "RL"))]
    df = responses if responses is not None else responses_frame(results)
    if not df.empty:
        means = df.assign(refusal_pct=100.0 * df["refusal"].astype(float)).groupby(["category", "model"])[
            [*SIGNALS, "reward", "refusal_pct"]].mean().reset_index()
        long = means.melt(id_vars=["category", "model"], var_name="metric", value_name="value")
        long["model"] = long["model"].map(lambda m: MODEL_LABELS.get(m, m))
        rows += long.to_dict("records")
    return pd.DataFrame(rows, columns=["category", "model", "metric", "value"])


RESPONSE_COLUMNS = ["prompt_id", "category", "model", "prompt", "response", *SIGNALS, "reward", "refusal"]


def responses_frame(results: EvaluationResult) -> pd.DataFrame:
    """Per-response records (one row per sampled response), the report's `records`."""
    df = pd.DataFrame(results.records)
    for col in RESPONSE_COLUMNS:
        if col not in df:
            df[col] = np.nan
    return df[RESPONSE_COLUMNS]


def side_by_side(responses: pd.DataFrame, category: str | None = None, search: str = "") -> pd.DataFrame:
    """Base and RL answers to the same prompt on one row (the first sample of each model), filtered by category
    and a case-insensitive search over the prompt and both responses. Columns: prompt_id, category, prompt,
    then <field>_<model> for response, the four signals, reward, refusal."""
    df = responses if not category else responses[responses["category"] == category]
    first = df.drop_duplicates(["prompt_id", "model"])
    keep = ["response", *SIGNALS, "reward", "refusal"]
    parts = [first[first["model"] == m].set_index("prompt_id")[keep].add_suffix(f"_{MODEL_LABELS.get(m, m)}")
             for m in first["model"].dropna().unique()]
    meta = first.drop_duplicates("prompt_id").set_index("prompt_id")[["category", "prompt"]]
    wide = meta.join(parts, how="left") if parts else meta
    wide = wide.reset_index()
    if search:
        text = wide["prompt"].astype(str)
        for c in wide.columns:
            if c.startswith("response_"):
                text = text + " " + wide[c].astype(str)
        wide = wide[text.str.contains(search, case=False, regex=False)]
    return wide.reset_index(drop=True)


def reward_distribution(responses: pd.DataFrame) -> pd.DataFrame:
    """(model, reward) rows for the overlaid histogram."""
    out = responses.loc[responses["reward"].notna(), ["model", "reward"]].reset_index(drop=True)
    out["model"] = out["model"].map(lambda m: MODEL_LABELS.get(m, m))
    return out


# ---------------------------------------------------------------- training
def load_training_stats(layout: Layout) -> pd.DataFrame:
    """RL per-step stats as a frame indexed by step (columns that a run did not log are absent)."""
    path = layout.rl_policy / RLResult.STATS_FILE
    return stats_frame(read_json_file(path, STAGE_BY_KEY["train-rl"].command), path)


def stats_frame(stats: Any, path: Path) -> pd.DataFrame:
    """Per-step stats read from `path` as a frame sorted by step; NotReady when there is no step."""
    if isinstance(stats, dict):  # tolerate {"steps": [...]} as well as a bare list
        stats = stats.get("steps") or stats.get("history") or []
    df = pd.DataFrame(stats)
    if df.empty:
        raise NotReady(f"{path} has no steps yet", STAGE_BY_KEY["train-rl"].command)
    if "step" not in df:
        df["step"] = np.arange(1, len(df) + 1)
    return df.sort_values("step").reset_index(drop=True)


def run_target_kl(layout: Layout, default: float) -> float:
    """target_kl of the RL run that wrote the stats (its rl_summary.json), else `default` (the config's)."""
    try:
        v = num(load_result(layout, "train-rl").target_kl)
    except NotReady:
        return default
    return default if math.isnan(v) else v


def kl_band(target_kl: float, tolerance: float = 0.5) -> tuple[float, float]:
    """The acceptable KL band around the controller's target (issue 3: within ±50% of target_kl)."""
    return target_kl * (1 - tolerance), target_kl * (1 + tolerance)


# ---------------------------------------------------------------- calibration
def load_reward_metrics(layout: Layout) -> RewardResult:
    return load_result(layout, "train-reward")


def reliability_frame(metrics: RewardResult) -> pd.DataFrame:
    """Reliability diagrams, long form: signal, bin_lower, mean_pred, mean_true, count (empty bins dropped)."""
    frames = []
    for sig, curve in metrics.reliability.items():
        df = pd.DataFrame(curve.model_dump(include={"bin_lower", "mean_pred", "mean_true", "count"}))
        df.insert(0, "signal", sig)
        frames.append(df[df["count"] > 0])
    cols = ["signal", "bin_lower", "mean_pred", "mean_true", "count"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def calibration_summary(metrics: RewardResult) -> pd.DataFrame:
    """Per signal: MAE and ECE of the reward model on the test split."""
    return pd.DataFrame([{"signal": s, "mae": num(metrics.mae.get(s)), "ece": num(metrics.ece.get(s))}
                         for s in SIGNALS])


# ---------------------------------------------------------------- probes
def load_probes(layout: Layout) -> ProbeResult:
    return load_result(layout, "probe")


PROBE_MODELS = ("base_model", "rl_model")


def probe_table(report: ProbeResult) -> pd.DataFrame:
    """One row per (probe, model): risk_score, num_failures, num_prompts."""
    rows = [{"probe": probe, "model": model, "risk_score": num(res.risk_score),
             "num_failures": int(res.num_failures or 0), "num_prompts": int(res.num_prompts or 0)}
            for model in PROBE_MODELS for probe, res in getattr(report, model).items()]
    return pd.DataFrame(rows, columns=["probe", "model", "risk_score", "num_failures", "num_prompts"])


def probe_failures(report: ProbeResult, probe: str, model: str) -> pd.DataFrame:
    """Failure examples of one probe for one model: prompt, response, reason, then the scores (the report nests
    them under `scores`) and any other fields."""
    outcome = getattr(report, model).get(probe)
    rows = [{**f.model_dump(exclude={"scores"}), **f.scores} for f in (outcome.failures if outcome else [])]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["prompt", "response"])
    front = [c for c in ("prompt", "response", "reason", *SIGNALS, "reward") if c in df]
    return df[front + [c for c in df.columns if c not in front]]


# ---------------------------------------------------------------- drift
def load_benchmarks(layout: Layout):
    """The typed `benchmarks/report.json` (saferlhf.benchmarks.report.BenchmarkReport)."""
    return load_result(layout, "benchmark")


def load_drift(layout: Layout) -> tuple[str, pd.DataFrame]:
    """(latest Evidently report, drift history table with a boolean `passed` column, oldest first), from the
    monitor stage's output folder."""
    stage = stages.STAGE["monitor-drift"]
    folder = getattr(layout, stage.outputs[0])
    html_path, hist_path = folder / MonitorResult.LATEST_REPORT, folder / MonitorResult.HISTORY_FILE
    if not html_path.is_file():
        raise NotReady(f"{html_path} does not exist yet", stage.cli)
    html = html_path.read_text(encoding="utf-8", errors="replace")
    try:
        hist = pd.read_csv(hist_path) if hist_path.is_file() else pd.DataFrame()
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise NotReady(f"{hist_path} is not a readable CSV ({e})", stage.cli) from None
    return html, _normalise_history(hist)


def _normalise_history(hist: pd.DataFrame) -> pd.DataFrame:
    if hist.empty:
        return hist
    hist = hist.copy()
    time_col = next((c for c in ("time", "timestamp", "created_at", "run_time") if c in hist), None)
    if time_col:
        hist["time"] = pd.to_datetime(hist[time_col], utc=True, errors="coerce")
        hist = hist.sort_values("time")
    pass_col = next((c for c in ("passed", "pass", "tests_passed", "ok") if c in hist), None)
    if pass_col:
        hist["passed"] = hist[pass_col].astype(str).str.lower().isin(("true", "1", "pass", "passed", "yes"))
    elif "drift_detected" in hist:
        hist["passed"] = ~hist["drift_detected"].astype(str).str.lower().isin(("true", "1", "yes"))
    return hist.reset_index(drop=True)
