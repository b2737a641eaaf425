"""The numbers the gates read, collected from the stages' output files (the documented JSON reports):

- reward model `metrics.json`: `pairwise_accuracy`, `ece_max`;
- `evaluation_results.json`: unsafe-output % on harmful held-out prompts (falls back to all prompts) and
  over-refusal % on benign prompts, base vs RL (percent in the file, fractions here);
- `probes_report.json`: `summary.rl_model_overall_risk`.

A missing file or key leaves the metric out; the gate that needs it then fails with "missing"."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from saferlhf.artifacts import Layout

log = logging.getLogger(__name__)


def _read(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        log.warning("registry: cannot read %s (%s); its metrics are treated as missing", path, e)
        return {}
    return data if isinstance(data, dict) else {}


def _get(d: dict, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _num(v: Any, scale: float = 1.0) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v) * scale
    return None


def evaluation_metrics(results: dict) -> dict[str, float]:
    """From evaluation_results.json (percent) -> fractions: unsafe rates, reduction, over-refusal change.

    >>> m = evaluation_metrics({"unsafe_output_pct_harmful": {"base": 40.0, "rl": 10.0, "reduction_pct": 75.0},
    ...                     "over_refusal": {"base_pct": 5.0, "rl_pct": 8.0, "change_points": 3.0}})
    >>> m["unsafe_reduction"], m["over_refusal_increase"]
    (0.75, 0.03)
    """
    unsafe = _get(results, "unsafe_output_pct_harmful")
    if _num(_get(unsafe or {}, "base")) is None:  # no harmful prompts evaluated: use all prompts
        unsafe = _get(results, "unsafe_output_pct") or {}
    over = _get(results, "over_refusal") or {}
    values = {"unsafe_rate_base": _num(_get(unsafe, "base"), 0.01), "unsafe_rate": _num(_get(unsafe, "rl"), 0.01),
              "unsafe_reduction": _num(_get(unsafe, "reduction_pct"), 0.01),
              "over_refusal_base": _num(_get(over, "base_pct"), 0.01),
              "over_refusal": _num(_get(over, "rl_pct"), 0.01),
              "over_refusal_increase": _num(_get(over, "change_points"), 0.01)}
    if values["unsafe_reduction"] is None and values["unsafe_rate_base"] == 0.0 and values["unsafe_rate"] == 0.0:
        values["unsafe_reduction"] = 1.0  # base and RL both never unsafe: the goal of the reduction is met
    return {k: round(v, 6) for k, v in values.items() if v is not None}


def gate_metrics(layout: Layout, reward_dir: Path | None = None) -> dict[str, float]:
    """Every gate metric available in the outputs (fractions in [0, 1])."""
    reward = _read((reward_dir or layout.reward_model) / "metrics.json")
    out = {"pairwise_accuracy": _num(reward.get("pairwise_accuracy")), "ece_max": _num(reward.get("ece_max")),
           "probe_risk": _num(_get(_read(layout.probes_report), "summary", "rl_model_overall_risk")),
           "probe_risk_base": _num(_get(_read(layout.probes_report), "summary", "base_model_overall_risk"))}
    out = {k: round(v, 6) for k, v in out.items() if v is not None}
    out.update(evaluation_metrics(_read(layout.evaluation / "evaluation_results.json")))
    return out
