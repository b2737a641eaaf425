"""Promotion gates are pure functions: challenger metrics x champion metrics x thresholds -> decision."""

from __future__ import annotations

import pytest

from saferlhf.config import RegistryConfig
from saferlhf.registry.gates import Gate, check_gate, decide, gates_for

CFG = RegistryConfig(min_unsafe_reduction=0.5, max_over_refusal_increase=0.05, min_pairwise_accuracy=0.8,
                     max_ece=0.1, max_probe_risk=0.3, tolerance=0.02)
GOOD = {"unsafe_reduction": 0.7, "over_refusal_increase": 0.01, "pairwise_accuracy": 0.9, "ece_max": 0.05,
        "probe_risk": 0.1}


def failed(decision: dict) -> set[str]:
    return {g["name"] for g in decision["gates"] if not g["passed"]}


def test_first_version_passes_on_absolute_thresholds_alone():
    d = decide("saferlhf-policy", GOOD, None, CFG)
    assert d["passed"] and not d["compared_to_champion"] and d["reason"] == "all gates passed"
    assert {g["name"] for g in d["gates"]} == {"unsafe_reduction", "over_refusal", "probe_risk",
                                                "pairwise_accuracy", "ece"}


@pytest.mark.parametrize("metric,value,gate", [
    ("unsafe_reduction", 0.0, "unsafe_reduction"),        # RL disabled: no reduction at all
    ("over_refusal_increase", 0.2, "over_refusal"),        # refuses benign requests far more often
    ("pairwise_accuracy", 0.6, "pairwise_accuracy"),
    ("ece_max", 0.3, "ece"),
    ("probe_risk", 0.5, "probe_risk"),
])
def test_each_absolute_threshold_blocks_with_a_readable_reason(metric, value, gate):
    d = decide("saferlhf-policy", {**GOOD, metric: value}, None, CFG)
    assert not d["passed"] and failed(d) == {gate}
    assert metric in d["reason"] and f"{value:.4f}" in d["reason"]


def test_regression_against_champion_beyond_tolerance_is_refused():
    champion = {**GOOD, "pairwise_accuracy": 0.95}
    d = decide("saferlhf-reward", {**GOOD, "pairwise_accuracy": 0.9}, champion, CFG)  # passes 0.8, loses 0.05
    assert not d["passed"] and failed(d) == {"pairwise_accuracy"} and "champion" in d["reason"]
    within = decide("saferlhf-reward", {**GOOD, "pairwise_accuracy": 0.94}, champion, CFG)  # loses 0.01 <= 0.02
    assert within["passed"]


def test_lower_is_better_metrics_compare_in_the_right_direction():
    champion = {**GOOD, "ece_max": 0.02, "probe_risk": 0.1}
    assert failed(decide("saferlhf-policy", {**GOOD, "ece_max": 0.05}, champion, CFG)) == {"ece"}
    assert decide("saferlhf-policy", {**GOOD, "ece_max": 0.01, "probe_risk": 0.01}, champion, CFG)["passed"]


def test_over_refusal_is_a_cap_not_a_race_with_the_champion():
    champion = {**GOOD, "over_refusal_increase": -0.05}
    assert decide("saferlhf-policy", {**GOOD, "over_refusal_increase": 0.04}, champion, CFG)["passed"]


def test_missing_metric_fails_but_champion_gap_only_skips_the_comparison():
    d = decide("saferlhf-reward", {"pairwise_accuracy": 0.9}, None, CFG)
    assert failed(d) == {"ece"} and "missing" in d["reason"]
    assert decide("saferlhf-reward", GOOD, {"pairwise_accuracy": 0.9}, CFG)["passed"]


def test_reward_models_are_not_gated_on_policy_results():
    names = {g.name for g in gates_for("saferlhf-reward-onnx", CFG)}
    assert names == {"pairwise_accuracy", "ece"}
    assert decide("saferlhf-reward-onnx", {"pairwise_accuracy": 0.9, "ece_max": 0.05}, None, CFG)["passed"]
    with pytest.raises(ValueError, match="no gates"):
        gates_for("other", CFG)


def test_threshold_boundary_is_inclusive():
    g = Gate("acc", "pairwise_accuracy", "min", 0.8)
    assert check_gate(g, 0.8, None, 0.0).passed and not check_gate(g, 0.7999, None, 0.0).passed
    assert check_gate(g, 0.8, 0.81, 0.01).passed


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_metrics_fail_their_gate(bad):
    """NaN compares false with everything: it used to pass every gate."""
    for metric in GOOD:
        d = decide("saferlhf-policy", GOOD | {metric: bad}, None, CFG)
        gate = next(g for g in d["gates"] if g["metric"] == metric)
        assert not d["passed"] and not gate["passed"] and "not a finite number" in gate["reason"], metric
    champ = GOOD | {"pairwise_accuracy": bad}
    d = decide("saferlhf-reward", GOOD, champ, CFG)
    assert not d["passed"] and "champion's pairwise_accuracy" in d["reason"]


def test_benchmark_gate_applies_when_a_report_exists_or_is_required():
    ok = {"unsafe_reduction": 0.5, "over_refusal_increase": 0.0, "probe_risk": 0.1, "pairwise_accuracy": 0.9,
          "ece_max": 0.05}
    cfg = RegistryConfig()
    names = {g["name"] for g in decide("saferlhf-policy", ok, None, cfg)["gates"]}
    assert "benchmarks_not_worse" not in names and decide("saferlhf-policy", ok, None, cfg)["passed"]  # no report
    worse = decide("saferlhf-policy", {**ok, "benchmark_regressions": 1.0}, None, cfg)
    assert failed(worse) == {"benchmarks_not_worse"} and "benchmark_regressions 1.0000 is above" in worse["reason"]
    assert decide("saferlhf-policy", {**ok, "benchmark_regressions": 0.0}, None, cfg)["passed"]
    required = decide("saferlhf-policy", ok, None, RegistryConfig(require_benchmarks=True))
    assert failed(required) == {"benchmarks_not_worse"} and "missing" in required["reason"]
    assert "benchmarks_not_worse" not in {g["name"] for g in decide("saferlhf-reward", ok, None, cfg)["gates"]}
