"""The numbers the gates read, from the stages' typed reports (saferlhf.results):

- reward model (`RewardResult`, metrics.json): `pairwise_accuracy`, `ece_max`;
- evaluation (`EvaluationResult`): unsafe-output % on harmful held-out prompts (falls back to all prompts) and
  over-refusal % on benign prompts, base vs RL (percent in the report, fractions here);
- probes (`ProbeResult`): `summary.rl_model_overall_risk`.

A missing or unreadable report leaves its metrics out (with a warning); the gate that needs one then fails with
"missing"."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from saferlhf.artifacts import Layout
from saferlhf.benchmarks.report import BenchmarkReport
from saferlhf.errors import UserError
from saferlhf.results import EvaluationResult, ProbeResult, RewardResult, StageResult

log = logging.getLogger(__name__)


def _load(model: type[StageResult], path: Path) -> StageResult | None:
    if not path.is_file():
        return None
    try:
        return model.load(path)
    except UserError as e:
        log.warning("registry: %s; its metrics are treated as missing", e)
        return None


def _frac(v: float | None, scale: float = 0.01) -> float | None:
    return float(v) * scale if isinstance(v, (int, float)) and math.isfinite(v) else None


def evaluation_metrics(ev: EvaluationResult) -> dict[str, float]:
    """Evaluation report (percent) -> fractions: unsafe rates, reduction, over-refusal change.

    >>> m = evaluation_metrics(EvaluationResult(unsafe_output_pct_harmful={"base": 40.0, "rl": 10.0,
    ...     "reduction_pct": 75.0}, over_refusal={"base_pct": 5.0, "rl_pct": 8.0, "change_points": 3.0}))
    >>> m["unsafe_reduction"], m["over_refusal_increase"]
    (0.75, 0.03)
    """
    unsafe = ev.unsafe_output_pct_harmful
    if _frac(unsafe.base) is None:  # no harmful prompts evaluated: use all prompts
        unsafe = ev.unsafe_output_pct
    over = ev.over_refusal
    values = {"unsafe_rate_base": _frac(unsafe.base), "unsafe_rate": _frac(unsafe.rl),
              "unsafe_reduction": _frac(unsafe.reduction_pct), "over_refusal_base": _frac(over.base_pct),
              "over_refusal": _frac(over.rl_pct), "over_refusal_increase": _frac(over.change_points)}
    if values["unsafe_reduction"] is None and values["unsafe_rate_base"] == 0.0 and values["unsafe_rate"] == 0.0:
        values["unsafe_reduction"] = 1.0  # base and RL both never unsafe: the goal of the reduction is met
    return {k: round(v, 6) for k, v in values.items() if v is not None}


def gate_metrics(layout: Layout, reward_dir: Path | None = None) -> dict[str, float]:
    """Every gate metric available in the outputs (fractions in [0, 1])."""
    out: dict[str, float | None] = {}
    if reward := _load(RewardResult, (reward_dir or layout.reward_model) / "metrics.json"):
        out.update(pairwise_accuracy=_frac(reward.pairwise_accuracy, 1), ece_max=_frac(reward.ece_max, 1))
    if bench := _load(BenchmarkReport, layout.benchmarks / "report.json"):  # only where benchmarks are configured
        out["benchmark_regressions"] = float(len(bench.gate.regressions))
    if probes := _load(ProbeResult, layout.probes_report):
        out.update(probe_risk=_frac(probes.summary.rl_model_overall_risk, 1),
                   probe_risk_base=_frac(probes.summary.base_model_overall_risk, 1))
    metrics = {k: round(v, 6) for k, v in out.items() if v is not None}
    if ev := _load(EvaluationResult, layout.evaluation / "evaluation_results.json"):
        metrics.update(evaluation_metrics(ev))
    return metrics
