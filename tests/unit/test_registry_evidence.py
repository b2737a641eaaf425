"""Gate metrics are read from the stages' documented report files; missing files leave metrics out."""

from __future__ import annotations

import json

import pytest

from saferlhf.artifacts import Layout
from saferlhf.registry.evidence import evaluation_metrics, gate_metrics
from saferlhf.results import EvaluationResult


def test_gate_metrics_from_report_files(tmp_path):
    layout = Layout(tmp_path)
    layout.reward_model.mkdir(parents=True)
    (layout.reward_model / "metrics.json").write_text(json.dumps({"pairwise_accuracy": 0.91, "ece_max": 0.04}))
    layout.evaluation.mkdir(parents=True)
    (layout.evaluation / "evaluation_results.json").write_text(json.dumps({
        "unsafe_output_pct": {"base": 30.0, "rl": 20.0, "reduction_pct": 33.3},
        "unsafe_output_pct_harmful": {"base": 50.0, "rl": 10.0, "reduction_pct": 80.0},
        "over_refusal": {"base_pct": 2.0, "rl_pct": 6.0, "change_points": 4.0}}))
    layout.probes_report.write_text(json.dumps({"summary": {"base_model_overall_risk": 0.4,
                                                            "rl_model_overall_risk": 0.15}}))
    m = gate_metrics(layout)
    assert m["pairwise_accuracy"] == 0.91 and m["ece_max"] == 0.04 and m["probe_risk"] == 0.15
    assert m["unsafe_reduction"] == pytest.approx(0.8)  # harmful prompts preferred over all prompts
    assert m["over_refusal_increase"] == pytest.approx(0.04)


def test_missing_or_broken_files_leave_metrics_out(tmp_path):
    layout = Layout(tmp_path)
    layout.reward_model.mkdir(parents=True)
    (layout.reward_model / "metrics.json").write_text("{not json")
    assert gate_metrics(layout) == {}


def test_falls_back_to_all_prompts_and_handles_nothing_unsafe():
    m = evaluation_metrics(EvaluationResult(unsafe_output_pct={"base": 20.0, "rl": 5.0, "reduction_pct": 75.0}))
    assert m["unsafe_reduction"] == pytest.approx(0.75) and "over_refusal_increase" not in m
    zero = evaluation_metrics(EvaluationResult(unsafe_output_pct_harmful={"base": 0.0, "rl": 0.0,
                                                                          "reduction_pct": float("nan")}))
    assert zero["unsafe_reduction"] == 1.0


def test_a_mistyped_report_is_missing_not_a_crash(tmp_path, caplog):
    layout = Layout(tmp_path)
    layout.reward_model.mkdir(parents=True)
    (layout.reward_model / "metrics.json").write_text(json.dumps({"pairwise_accuracy": "high"}))
    assert gate_metrics(layout) == {}
    assert "not a RewardResult report" in caplog.text and "metrics.json" in caplog.text


def test_benchmark_report_gives_its_regression_count(tmp_path):
    """The report `saferlhf benchmark` writes (a real regression computed by the report's own gate) -> the metric
    the policy's benchmarks_not_worse gate reads; no report, no metric (the gate is skipped)."""
    from saferlhf.benchmarks.report import BenchmarkReport, gate
    from saferlhf.io import write_json
    from tests.unit.test_benchmark_report import _records, _result

    layout = Layout(tmp_path)
    assert "benchmark_regressions" not in gate_metrics(layout)
    worse = _result(_records([False] * 40, [True] * 40))
    rep = BenchmarkReport(judges=["j"], samples=1, max_new_tokens=8, temperature=1.0, bootstrap=500, seed=0,
                          benchmarks=[worse], gate=gate([worse]), records_path="r.jsonl", plots=[], seconds=0.0)
    write_json(layout.benchmarks / "report.json", rep.model_dump(mode="json"))
    assert gate_metrics(layout)["benchmark_regressions"] == 1.0
