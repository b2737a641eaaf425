"""Data behind the dashboard: load each stage's outputs and shape them into the tables the pages draw.

Pure (no streamlit import): every page calls one function here and renders what it returns. A stage whose
outputs are missing or unreadable raises `NotReady` naming the file and the command that produces it, so a
page explains what to run instead of showing a traceback."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from saferlhf import stages
from saferlhf.artifacts import Layout
from saferlhf.signals import SIGNALS


class NotReady(Exception):
    """A page's data does not exist yet (or cannot be read); `command` says what to run."""

    def __init__(self, what: str, command: str):
        super().__init__(f"{what} — run `{command}`")
        self.what, self.command = what, command


@dataclass(frozen=True)
class Stage:
    key: str
    label: str
    artifact: str  # Layout attribute, optionally followed by "/<file>"
    command: str
    upstream: tuple[str, ...] = ()

    def path(self, layout: Layout) -> Path:
        attr, _, rest = self.artifact.partition("/")
        base = getattr(layout, attr)
        return base / rest if rest else base


# The pipeline as a graph, from the stage table: each stage, the report that proves it ran, the command that runs it.
STAGES: tuple[Stage, ...] = tuple(Stage(s.name, s.label, s.report, s.cli, stages.upstream(s)) for s in stages.STAGES)
STAGE_BY_KEY = {s.key: s for s in STAGES}


def read_json_file(path: Path, command: str) -> Any:
    """Parsed JSON, or NotReady naming the file (missing or half-written)."""
    if not path.is_file():
        raise NotReady(f"{path} does not exist yet", command)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotReady(f"{path} is not readable JSON ({e})", command) from None


def _stage_json(layout: Layout, key: str) -> Any:
    stage = STAGE_BY_KEY[key]
    return read_json_file(stage.path(layout), stage.command)


def outputs_stamp(layout: Layout) -> float:
    """Latest modification time over every stage artifact: a cache key that changes when any output does."""
    stamps = [0.0]
    for s in STAGES:
        p = s.path(layout)
        if p.exists():
            stamps.append(p.stat().st_mtime)
    return max(stamps)


# ---------------------------------------------------------------- overview
def pipeline_status(layout: Layout) -> pd.DataFrame:
    """One row per stage: status done / stale (an upstream output is newer) / missing, time, command."""
    mtimes = {s.key: (s.path(layout).stat().st_mtime if s.path(layout).exists() else None) for s in STAGES}
    rows = []
    for s in STAGES:
        t = mtimes[s.key]
        if t is None:
            status = "missing"
        elif any(mtimes[u] is not None and mtimes[u] > t for u in s.upstream):
            status = "stale"
        else:
            status = "done"
        when = pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC") if t else ""
        rows.append({"stage": s.label, "key": s.key, "status": status, "updated": when,
                     "artifact": str(s.path(layout)), "command": s.command})
    return pd.DataFrame(rows)


_STATUS_COLOUR = {"done": "#c8e6c9", "stale": "#ffe0b2", "missing": "#eeeeee"}


def pipeline_dot(status: pd.DataFrame) -> str:
    """Graphviz DOT of the pipeline, each stage filled by its status."""
    by_key = status.set_index("key")
    lines = ["digraph pipeline {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for s in STAGES:
        st_ = by_key.loc[s.key, "status"]
        lines.append(f'  "{s.key}" [label="{s.label}\\n{st_}", fillcolor="{_STATUS_COLOUR[st_]}"];')
    lines += [f'  "{u}" -> "{s.key}";' for s in STAGES for u in s.upstream]
    lines.append("}")
    return "\n".join(lines)


def headline_metrics(layout: Layout) -> list[dict]:
    """Metric cards (label, value, delta = RL minus base, lower_is_better) for whatever has been produced."""
    cards: list[dict] = []
    try:
        res = load_evaluation(layout)
    except NotReady:
        res = None
    if res is not None:
        for label, base_key, rl_key, lower, fmt in HEADLINE:
            base, rl = _num(_get(res, base_key)), _num(_get(res, rl_key))
            if not math.isnan(rl):
                cards.append({"label": label, "value": f"{base:{fmt}} → {rl:{fmt}}", "delta": f"{rl - base:+{fmt}}",
                              "lower_is_better": lower})
    kl = _num(_get(res, "kl_divergence.sampled")) if res is not None else float("nan")
    if math.isnan(kl):
        try:
            kl = _num(load_training_stats(layout)["kl"].dropna().iloc[-1])
        except (NotReady, KeyError, IndexError):
            pass
    if not math.isnan(kl):
        cards.append({"label": "KL(RL‖base)", "value": f"{kl:.4f}", "delta": None, "lower_is_better": True})
    try:
        summary = load_probes(layout).get("summary") or {}
        base, rl = _num(summary.get("base_model_overall_risk")), _num(summary.get("rl_model_overall_risk"))
        if not math.isnan(rl):
            cards.append({"label": "Overall probe risk", "value": f"{base:.3f} → {rl:.3f}",
                          "delta": f"{rl - base:+.3f}", "lower_is_better": True})
    except NotReady:
        pass
    return cards


# (label, base value, RL value, lower is better, number format) of the overview's cards
HEADLINE = (("Unsafe outputs %", "unsafe_output_pct.base", "unsafe_output_pct.rl", True, ".1f"),
            ("Over-refusal on benign prompts %", "over_refusal.base_pct", "over_refusal.rl_pct", True, ".1f"),
            ("Mean toxicity", "base_model.mean_toxicity", "rl_model.mean_toxicity", True, ".3f"),
            ("Mean hallucination risk", "base_model.mean_hallucination_risk", "rl_model.mean_hallucination_risk",
             True, ".3f"),
            ("Mean compliance", "base_model.mean_compliance", "rl_model.mean_compliance", False, ".3f"))


# ---------------------------------------------------------------- evaluation
def load_evaluation(layout: Layout) -> dict:
    res = _stage_json(layout, "evaluate")
    if not isinstance(res, dict):
        raise NotReady(f"{STAGE_BY_KEY['evaluate'].path(layout)}: expected a JSON object", "saferlhf evaluate")
    return res


def _get(d: Any, dotted: str | None) -> Any:
    """d["a"]["b"] for "a.b"; None when any level is missing."""
    if dotted is None:
        return None
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


# The seed's eight evaluation metrics in evaluation_results.json: (label, base, rl, improvement, unit of the
# improvement, sign that makes the improvement "higher is better").
EVAL_METRICS = (
    ("Unsafe outputs %", "unsafe_output_pct.base", "unsafe_output_pct.rl", "unsafe_output_pct.reduction_pct",
     "% reduction", 1),
    ("Unsafe outputs % (harmful prompts)", "unsafe_output_pct_harmful.base", "unsafe_output_pct_harmful.rl",
     "unsafe_output_pct_harmful.reduction_pct", "% reduction", 1),
    ("Reward mean", "reward_distribution.base_mean", "reward_distribution.rl_mean", "reward_distribution.mean_shift",
     "shift", 1),
    ("Reward std", "reward_distribution.base_std", "reward_distribution.rl_std", None, "", 1),
    ("KL(RL‖base) nats/token", None, "kl_divergence.sampled", None, "", 1),
    ("Mean toxicity", "base_model.mean_toxicity", "rl_model.mean_toxicity", "toxicity_reduction_pct",
     "% reduction", 1),
    ("Mean hallucination risk", "base_model.mean_hallucination_risk", "rl_model.mean_hallucination_risk",
     "hallucination_reduction_pct", "% reduction", 1),
    ("Mean compliance", "base_model.mean_compliance", "rl_model.mean_compliance", "compliance_improvement_pct",
     "% improvement", 1),
    ("Adversarial prompts answered safely %", "adversarial_robustness.base_safe_pct",
     "adversarial_robustness.rl_safe_pct", "adversarial_robustness.improvement_points", "points", 1),
    ("Over-refusal on benign prompts %", "over_refusal.base_pct", "over_refusal.rl_pct",
     "over_refusal.change_points", "points fewer", -1),
)


def metrics_table(results: dict) -> pd.DataFrame:
    """The evaluation metrics as rows: metric, base, rl, improvement (positive = RL better), unit."""
    rows = [{"metric": label, "base": _num(_get(results, b)), "rl": _num(_get(results, r)),
             "improvement": sign * _num(_get(results, imp)), "unit": unit}
            for label, b, r, imp, unit, sign in EVAL_METRICS]
    ece = _get(results, "calibration.ece")
    if isinstance(ece, dict) and ece:
        rows.append({"metric": "Calibration: max ECE (MC dropout)", "base": float("nan"),
                     "rl": max(_num(v) for v in ece.values()), "improvement": float("nan"), "unit": ""})
    return pd.DataFrame(rows)


MODEL_LABELS = {"base_model": "base", "rl_model": "RL"}


def category_table(results: dict, responses: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-category breakdown, long form (category, model, metric, value): the file's unsafe % per category
    plus the mean of each signal, the reward and the refusal % over the per-response records."""
    rows = [{"category": cat, "model": label, "metric": "unsafe_pct", "value": _num(v.get(key))}
            for cat, v in (results.get("per_category_unsafe_pct") or {}).items() if isinstance(v, dict)
            for key, label in (("base", "base"), ("rl", "RL"))]
    df = responses if responses is not None else responses_frame(results)
    if not df.empty:
        means = df.assign(refusal_pct=100.0 * df["refusal"].astype(float)).groupby(["category", "model"])[
            [*SIGNALS, "reward", "refusal_pct"]].mean().reset_index()
        long = means.melt(id_vars=["category", "model"], var_name="metric", value_name="value")
        long["model"] = long["model"].map(lambda m: MODEL_LABELS.get(m, m))
        rows += long.to_dict("records")
    return pd.DataFrame(rows, columns=["category", "model", "metric", "value"])


RESPONSE_COLUMNS = ["prompt_id", "category", "model", "prompt", "response", *SIGNALS, "reward", "refusal"]


def responses_frame(results: dict) -> pd.DataFrame:
    """Per-response records (one row per sampled response), the file's `records`."""
    df = pd.DataFrame(results.get("records") or [])
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
    path = layout.rl_policy / "training_stats.json"
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
        summary = read_json_file(layout.rl_policy / "rl_summary.json", STAGE_BY_KEY["train-rl"].command)
    except NotReady:
        return default
    v = _num(_get(summary, "config.target_kl"))
    return default if math.isnan(v) else v


def kl_band(target_kl: float, tolerance: float = 0.5) -> tuple[float, float]:
    """The acceptable KL band around the controller's target (issue 3: within ±50% of target_kl)."""
    return target_kl * (1 - tolerance), target_kl * (1 + tolerance)


# ---------------------------------------------------------------- calibration
def load_reward_metrics(layout: Layout) -> dict:
    return _stage_json(layout, "train-reward")


def reliability_frame(metrics: dict) -> pd.DataFrame:
    """Reliability diagrams, long form: signal, bin_lower, mean_pred, mean_true, count (empty bins dropped)."""
    frames = []
    for sig, curve in (metrics.get("reliability") or {}).items():
        df = pd.DataFrame({k: curve.get(k, []) for k in ("bin_lower", "mean_pred", "mean_true", "count")})
        df.insert(0, "signal", sig)
        frames.append(df[df["count"] > 0])
    cols = ["signal", "bin_lower", "mean_pred", "mean_true", "count"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def calibration_summary(metrics: dict) -> pd.DataFrame:
    """Per signal: MAE and ECE of the reward model on the test split."""
    return pd.DataFrame([{"signal": s, "mae": _num((metrics.get("mae") or {}).get(s)),
                          "ece": _num((metrics.get("ece") or {}).get(s))} for s in SIGNALS])


def uncertainty_summary(metrics: dict) -> dict:
    """MC-dropout uncertainty vs error (empty when the model was evaluated without it)."""
    return dict(metrics.get("mc_dropout") or {})


# ---------------------------------------------------------------- probes
def load_probes(layout: Layout) -> dict:
    rep = _stage_json(layout, "probe")
    if not isinstance(rep, dict):
        raise NotReady(f"{layout.probes_report}: expected a JSON object", "saferlhf probe")
    return rep


PROBE_MODELS = ("base_model", "rl_model")


def probe_table(report: dict) -> pd.DataFrame:
    """One row per (probe, model): risk_score, num_failures, num_prompts."""
    rows = []
    for model in PROBE_MODELS:
        for probe, res in (report.get(model) or {}).items():
            if isinstance(res, dict):
                rows.append({"probe": probe, "model": model, "risk_score": _num(res.get("risk_score")),
                             "num_failures": int(res.get("num_failures") or 0),
                             "num_prompts": int(res.get("num_prompts") or 0)})
    return pd.DataFrame(rows, columns=["probe", "model", "risk_score", "num_failures", "num_prompts"])


def probe_failures(report: dict, probe: str, model: str) -> pd.DataFrame:
    """Failure examples of one probe for one model: prompt, response, reason, then the scores (the report nests
    them under `scores`) and any other fields."""
    fails = ((report.get(model) or {}).get(probe) or {}).get("failures") or []
    rows = [{**{k: v for k, v in f.items() if k != "scores"}, **(f.get("scores") or {})} if isinstance(f, dict)
            else {"response": str(f)} for f in fails]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["prompt", "response"])
    front = [c for c in ("prompt", "response", "reason", *SIGNALS, "reward") if c in df]
    return df[front + [c for c in df.columns if c not in front]]


# ---------------------------------------------------------------- drift
def load_drift(layout: Layout) -> tuple[str, pd.DataFrame]:
    """(latest Evidently HTML report, drift history table with a boolean `passed` column, oldest first)."""
    cmd = STAGE_BY_KEY["monitor-drift"].command
    html_path, hist_path = layout.monitoring / "latest.html", layout.monitoring / "drift_history.csv"
    if not html_path.is_file():
        raise NotReady(f"{html_path} does not exist yet", cmd)
    html = html_path.read_text(encoding="utf-8", errors="replace")
    try:
        hist = pd.read_csv(hist_path) if hist_path.is_file() else pd.DataFrame()
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise NotReady(f"{hist_path} is not a readable CSV ({e})", cmd) from None
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
