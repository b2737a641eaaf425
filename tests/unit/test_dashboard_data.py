"""saferlhf.dashboard_data: loading and shaping the outputs the dashboard pages draw."""

from __future__ import annotations

import json
import math
import os

import pandas as pd
import pytest

from saferlhf import dashboard_data as dd
from saferlhf.artifacts import Layout
from saferlhf.config import PROBE_NAMES
from saferlhf.io import write_json
from saferlhf.results import EvaluationResult, RewardResult
from saferlhf.signals import SIGNALS
from tests.fixtures import dashboard_outputs as fx


@pytest.fixture()
def empty(tmp_path) -> Layout:
    return Layout(tmp_path / "outputs")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> tuple[Layout, dict]:
    """Dataset + evaluation results made by the real comparison code (no models needed)."""
    from saferlhf.config import DataConfig
    from saferlhf.data import run_generate

    layout = Layout(tmp_path_factory.mktemp("outputs"))
    run_generate(DataConfig(), layout)
    return layout, fx.evaluation_results(layout)


def test_no_import_of_streamlit():
    import subprocess
    import sys

    code = "import sys, saferlhf.dashboard_data, saferlhf.dashboard_live; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("loader,command", [("load_evaluation", "saferlhf evaluate"), ("load_probes", "saferlhf probe"),
                                            ("load_training_stats", "saferlhf policy train-rl"),
                                            ("load_reward_metrics", "saferlhf reward train"),
                                            ("load_drift", "saferlhf monitor")])
def test_missing_outputs_say_what_to_run(empty, loader, command):
    with pytest.raises(dd.NotReady) as e:
        getattr(dd, loader)(empty)
    assert e.value.command.startswith(command)
    assert str(empty.root) in e.value.what


def test_half_written_json_is_not_ready_not_a_crash(empty):
    path = empty.probes_report
    path.parent.mkdir(parents=True)
    path.write_text('{"base_model": {"reward_hacking": ')
    with pytest.raises(dd.NotReady, match="not a readable JSON report"):
        dd.load_probes(empty)


def test_mistyped_report_is_not_ready_with_the_results_one_line_error(empty):
    write_json(empty.probes_report, {"base_model": {"jailbreak": {"risk_score": "high"}}})
    with pytest.raises(dd.NotReady) as e:
        dd.load_probes(empty)
    assert str(empty.probes_report) in e.value.what and "risk_score" in e.value.what
    assert "\n" not in e.value.what and e.value.command == "saferlhf probe"


def test_metrics_table_reads_the_evaluation_schema(evaluated):
    _, res = evaluated
    table = dd.metrics_table(EvaluationResult.model_validate(res)).set_index("metric")
    unsafe = table.loc["Unsafe outputs %"]
    assert unsafe["base"] == pytest.approx(res["unsafe_output_pct"]["base"])
    assert unsafe["rl"] == pytest.approx(res["unsafe_output_pct"]["rl"])
    assert unsafe["improvement"] == pytest.approx(res["unsafe_output_pct"]["reduction_pct"])
    assert table.loc["KL(RL‖base) nats/token", "rl"] == pytest.approx(res["kl_divergence"]["sampled"])
    # over-refusal: more refusals is worse, so the improvement is the negated change
    assert table.loc["Over-refusal on benign prompts %", "improvement"] == pytest.approx(
        -res["over_refusal"]["change_points"])
    assert table.loc["Calibration: max ECE (MC dropout)", "rl"] == pytest.approx(max(res["calibration"]["ece"].values()))
    # every metric of the spec is present, even when a value is missing (NaN, not a KeyError)
    empty = dd.metrics_table(EvaluationResult())
    assert len(empty) == len(dd.EVAL_METRICS) and empty[["base", "rl"]].isna().all().all()


def test_category_table_and_side_by_side(evaluated):
    _, res = evaluated
    typed = EvaluationResult.model_validate(res)
    responses = dd.responses_frame(typed)
    cats = dd.category_table(typed, responses)
    unsafe = cats[(cats["metric"] == "unsafe_pct")].set_index(["category", "model"])["value"]
    for cat, v in res["per_category_unsafe_pct"].items():
        assert unsafe[(cat, "base")] == pytest.approx(v["base"]) and unsafe[(cat, "RL")] == pytest.approx(v["rl"])
    safety = cats[cats["metric"] == "safety"].set_index(["category", "model"])["value"]
    rl = responses[(responses["model"] == "rl_model") & (responses["category"] == "benign")]
    assert safety[("benign", "RL")] == pytest.approx(rl["safety"].mean())

    wide = dd.side_by_side(responses)
    assert len(wide) == res["num_prompts"]
    row = wide.iloc[0]
    base = responses[(responses["prompt_id"] == row["prompt_id"]) & (responses["model"] == "base_model")].iloc[0]
    assert row["response_base"] == base["response"] and row["safety_base"] == pytest.approx(base["safety"])
    only = dd.side_by_side(responses, category="jailbreak")
    assert len(only) and set(only["category"]) == {"jailbreak"}
    word = base["response"].split()[-1].upper()  # case-insensitive search over responses
    found = dd.side_by_side(responses, search=word)
    assert row["prompt_id"] in set(found["prompt_id"]) and len(found) <= len(wide)
    assert dd.side_by_side(responses, search="no such text anywhere 42").empty


def test_reward_distribution_labels_models(evaluated):
    _, res = evaluated
    dist = dd.reward_distribution(dd.responses_frame(EvaluationResult.model_validate(res)))
    assert set(dist["model"]) == {"base", "RL"} and len(dist) == len(res["records"])


def test_headline_cards(evaluated):
    layout, res = evaluated
    cards = {c["label"]: c for c in dd.headline_metrics(layout)}
    u = res["unsafe_output_pct"]
    assert cards["Unsafe outputs %"]["value"] == f"{u['base']:.1f} → {u['rl']:.1f}"
    assert cards["Unsafe outputs %"]["lower_is_better"] and not cards["Mean compliance"]["lower_is_better"]
    assert cards["KL(RL‖base)"]["value"] == f"{res['kl_divergence']['sampled']:.4f}"
    assert "Overall probe risk" not in cards  # no probe report written here


def test_headline_kl_falls_back_to_training(empty):
    fx.training_stats(empty, steps=5)
    cards = {c["label"]: c for c in dd.headline_metrics(empty)}
    assert cards["KL(RL‖base)"]["value"] == f"{0.02 + 0.007 * 5:.4f}"


def test_training_stats_sorted_and_tolerant(empty):
    stats = fx.training_stats(empty, steps=6)
    write_json(empty.rl_policy / "training_stats.json", list(reversed(stats)))
    df = dd.load_training_stats(empty)
    assert df["step"].tolist() == list(range(1, 7)) and df["kl"].iloc[-1] == pytest.approx(stats[-1]["kl"])
    write_json(empty.rl_policy / "training_stats.json", [])
    with pytest.raises(dd.NotReady, match="no steps"):
        dd.load_training_stats(empty)
    assert dd.kl_band(0.1, 0.5) == pytest.approx((0.05, 0.15))
    assert dd.run_target_kl(empty, 0.1) == 0.1  # no run summary: the config's target
    write_json(empty.rl_policy / "rl_summary.json", {"target_kl": 0.3})
    assert dd.run_target_kl(empty, 0.1) == 0.3


def test_reliability_and_calibration(empty):
    m = fx.reward_metrics(empty)
    curves = dd.reliability_frame(dd.load_reward_metrics(empty))
    assert set(curves["signal"]) == set(SIGNALS) and (curves["count"] > 0).all()
    assert curves.groupby("signal")["count"].sum().eq(m["test_rows"]).all()
    typed = dd.load_reward_metrics(empty)
    summary = dd.calibration_summary(typed).set_index("signal")
    assert summary.loc["compliance", "ece"] == pytest.approx(m["ece"]["compliance"])
    assert typed.mc_dropout.spearman_uncertainty_error == m["mc_dropout"]["spearman_uncertainty_error"]
    assert dd.reliability_frame(RewardResult()).empty
    assert math.isnan(dd.calibration_summary(RewardResult())["ece"].iloc[0])


def test_probe_table_and_failures(evaluated):
    layout, res = evaluated
    rep = fx.probes_report(layout, res)  # the real seven probes over the evaluation records
    typed = dd.load_probes(layout)
    table = dd.probe_table(typed)
    probes = [p for p in rep["base_model"]]
    assert len(table) == 2 * len(probes) == 2 * len(PROBE_NAMES)
    # the RL policy's vaccine explainer for the poisoning prompt is the off-topic probe's failure
    assert fx.OFF_TOPIC_PROMPT in [f["prompt"] for f in rep["rl_model"]["off_topic"]["failures"]]
    worst = max(probes, key=lambda p: rep["base_model"][p]["num_failures"])
    row = table[(table["probe"] == worst) & (table["model"] == "base_model")].iloc[0]
    assert row["risk_score"] == rep["base_model"][worst]["risk_score"]
    fails = dd.probe_failures(typed, worst, "base_model")
    assert list(fails.columns[:3]) == ["prompt", "response", "reason"] and set(SIGNALS) <= set(fails.columns)
    first = rep["base_model"][worst]["failures"][0]
    assert len(fails) == len(rep["base_model"][worst]["failures"]) > 0
    assert fails["safety"].iloc[0] == first["scores"]["safety"] and fails["prompt"].iloc[0] == first["prompt"]
    assert dd.probe_failures(typed, "no_such_probe", "rl_model").empty


def test_drift_history_normalised(empty):
    mon = empty.monitoring
    mon.mkdir(parents=True)
    (mon / "latest.html").write_text("<html>report</html>")
    pd.DataFrame({"time": ["2026-11-02T10:00:00+00:00", "2026-11-01T10:00:00+00:00"], "passed": ["False", "True"],
                  "drift_share": [0.8, 0.0]}).to_csv(mon / "drift_history.csv", index=False)
    html, hist = dd.load_drift(empty)
    assert "report" in html
    assert hist["passed"].tolist() == [True, False]  # oldest first, parsed from CSV strings
    assert hist["drift_share"].tolist() == [0.0, 0.8]


def test_outputs_stamp_moves_when_a_file_changes(empty):
    before = dd.outputs_stamp(empty)
    write_json(empty.probes_report, {"summary": {}})
    os.utime(empty.probes_report, (before + 10, before + 10))
    assert dd.outputs_stamp(empty) == before + 10
    assert json.loads(empty.probes_report.read_text()) == {"summary": {}}
