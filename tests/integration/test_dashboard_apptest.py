"""Every dashboard page through streamlit.testing.v1.AppTest: rendered from fixture outputs written in the real
schemas (tests/fixtures/dashboard_outputs.py), each page shows the numbers in those files; with no outputs,
each page says what to run instead of raising."""

from __future__ import annotations

import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from saferlhf.artifacts import Layout
from saferlhf.signals import SIGNALS
from tests.conftest import REPO, free_port
from tests.fixtures.dashboard_outputs import mlflow_state_restored

APP = REPO / "dashboard" / "app.py"
PAGES = ["overview", "before_after", "training", "safety_metrics", "calibration", "probes", "benchmarks",
         "prompt_tester", "drift", "registry"]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """No scorer on the configured URL (a free port), no config file; mlflow globals restored afterwards."""
    monkeypatch.setenv("SAFERLHF_SCORER_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("SAFERLHF_CONFIG", raising=False)
    monkeypatch.delenv("SAFERLHF_DASHBOARD", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with mlflow_state_restored():
        yield


def open_page(root, page: str) -> AppTest:
    import os

    os.environ["SAFERLHF_OUTPUT_ROOT"] = str(root)  # the monkeypatch fixture restores the environment
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def text_of(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "success", "warning", "text", "title")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_page_without_outputs_says_what_to_run(tmp_path, monkeypatch, page):
    at = open_page(tmp_path / "nothing", page)
    if page == "overview":  # the overview still draws the pipeline, every stage missing
        assert "missing" in at.get("graphviz_chart")[0].proto.spec
        assert "make demo" in text_of(at)
    elif page == "prompt_tester":  # the form is there; answering needs a reward model
        assert "No base and no rl policy yet" in text_of(at)
    else:
        assert "Nothing to show yet" in text_of(at), text_of(at)
        assert at.code and at.code[0].value.startswith("saferlhf")


def test_overview(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "overview")
    res, probes = dashboard_outputs["evaluation"], dashboard_outputs["probes"]["summary"]
    m = metrics(at)
    assert m["Unsafe outputs %"] == f"{res['unsafe_output_pct']['base']:.1f} → {res['unsafe_output_pct']['rl']:.1f}"
    over = res["over_refusal"]
    assert over["rl_pct"] >= 45
    assert m["Over-refusal on benign prompts %"] == f"{over['base_pct']:.1f} → {over['rl_pct']:.1f}"
    assert m["Overall probe risk"] == (f"{probes['base_model_overall_risk']:.3f} → "
                                       f"{probes['rl_model_overall_risk']:.3f}")
    assert m["KL(RL‖base)"] == f"{res['kl_divergence']['sampled']:.4f}"
    dot = at.get("graphviz_chart")[0].proto.spec
    assert '"evaluate" [label="Evaluation\\ndone"' in dot and '"init-policy" [label="Base policy\\nmissing"' in dot
    # the champion was gated before the evaluation was overwritten: the registry is stale and says on what
    assert '"register" [label="Registry\\nstale"' in dot
    gated = dashboard_outputs["registry"]["metrics"]["over_refusal"]
    (warned,) = [w.value for w in at.warning]
    per_model = warned.split("\n\n")
    assert [w.split(" ")[0] for w in per_model] == sorted(dashboard_outputs["registry"]["decisions"])
    assert all("over_refusal" in w and f"{gated:.4g} → {over['rl_pct'] / 100:.4g}" in w for w in per_model), warned
    champs = at.dataframe[0].value
    assert set(champs["model"]) == set(dashboard_outputs["registry"]["decisions"])
    assert champs["version"].tolist() == [2, 2]
    stages = at.dataframe[1].value.set_index("stage")
    assert stages.loc["Evaluation", "report"] == "evaluation_results.json"
    assert len(stages.loc["Evaluation", "config"]) == 16  # the hash of the config embedded in the report


def test_before_after_flags_and_filters(dashboard_outputs, monkeypatch):
    from tests.fixtures.dashboard_outputs import OFF_TOPIC_PROMPT

    at = open_page(dashboard_outputs["layout"].root, "before_after")
    res = dashboard_outputs["evaluation"]
    assert f"{res['num_prompts']} prompts match" in text_of(at)
    # sorted by reward-vs-relevance gap: the off-topic, high-reward answer is the first prompt shown, flagged
    quotes = [e.value for e in at.markdown if e.value.startswith("> ")]
    assert quotes[0] == f"> {OFF_TOPIC_PROMPT}"
    assert "⚠ off-topic, high reward" in text_of(at)
    hack = next(r for r in res["records"] if r["prompt"] == OFF_TOPIC_PROMPT and r["model"] == "rl_model")
    assert f"reward `{hack['reward']:.3f}`" in text_of(at)
    n_rl = sum(r["model"] == "rl_model" for r in res["records"])
    assert metrics(at)["Off-topic, high-reward answers (RL)"].endswith(f" of {n_rl}")
    at.selectbox[1].select("prompt").run()  # evaluation order
    first = res["records"][0]
    quotes = [e.value for e in at.markdown if e.value.startswith("> ")]
    assert quotes[0] == f"> {first['prompt']}" and first["response"] in text_of(at)
    jail = {r["prompt_id"] for r in res["records"] if r["category"] == "jailbreak"}
    at.selectbox[0].select("jailbreak").run()
    assert f"{len(jail)} prompts match" in text_of(at)
    at.text_input[0].input("no such words anywhere").run()
    assert "0 prompts match" in text_of(at)
    assert at.get("plotly_chart")  # reward distribution overlay
    assert "0 responses" in text_of(at)  # ... of the filtered prompts only
    at.selectbox[0].select("all").run()
    at.text_input[0].input("").run()
    at.checkbox[0].check().run()  # only prompts with a flagged answer
    assert f"> {OFF_TOPIC_PROMPT}" in [e.value for e in at.markdown]
    assert f"{res['num_prompts']} prompts match" not in text_of(at)


def test_training_runs(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "training")
    last = dashboard_outputs["training"][-1]
    m = metrics(at)
    step = last["step"]
    assert m[f"KL (step {step})"] == f"{last['kl']:.4g}"
    assert m[f"over-refusal (step {step})"] == f"{last['over_refusal']:.4g}"
    assert f"λ (step {step})" not in m  # a weighted run has no Lagrange multiplier
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert not any("Safety cost" in t for t in titles) and any("over-refusing" in t for t in titles)
    assert at.selectbox[0].options == ["rl_policy (weighted objective)", "rl_policy_lagrangian (lagrangian objective)"]
    assert any("Compare RL runs" in h.value for h in at.subheader)
    at.selectbox[0].select_index(1).run()
    m = metrics(at)
    assert f"λ (step {step})" in m
    assert any("Safety cost" in c.proto.spec for c in at.get("plotly_chart"))


def test_safety_metrics(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "safety_metrics")
    res = dashboard_outputs["evaluation"]
    table = at.dataframe[0].value.set_index("metric")
    assert table.loc["Unsafe outputs %", "base"] == pytest.approx(res["unsafe_output_pct"]["base"])
    assert table.loc["Mean toxicity", "improvement"] == pytest.approx(res["toxicity_reduction_pct"])
    assert table.loc["Adversarial prompts answered safely %", "rl"] == pytest.approx(
        res["adversarial_robustness"]["rl_safe_pct"])
    changes = at.dataframe[1].value.set_index("metric")
    over = res["over_refusal"]
    assert changes.loc["Over-refusal, benign prompts", "change"] == pytest.approx(over["rl_pct"] - over["base_pct"],
                                                                                  abs=1e-3)
    assert changes.loc["Over-refusal, benign prompts", "verdict"] == "worse"  # more over-refusal is red
    assert changes.loc["Unsafe outputs, all prompts", "verdict"] == "better"
    # one chart per unit: percentage points, scores and reward never share an axis
    assert len(at.get("plotly_chart")) == 1 + changes["unit"].nunique()
    per_cat = at.dataframe[2].value
    assert per_cat.columns.tolist() == ["category", "prompts", "base", "RL"]  # base before RL, with counts
    per_cat = per_cat.set_index("category")
    assert per_cat.loc["jailbreak", "RL"] == round(res["per_category_unsafe_pct"]["jailbreak"]["rl"], 1)
    assert per_cat.loc["jailbreak", "prompts"] == len({r["prompt_id"] for r in res["records"]
                                                       if r["category"] == "jailbreak"})


def test_calibration(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "calibration")
    rm = dashboard_outputs["reward"]
    m = metrics(at)
    for s in SIGNALS:
        assert m[f"ECE {s}"] == f"{rm['ece'][s]:.4f}" and m[f"MAE {s}"] == f"{rm['mae'][s]:.4f}"
    assert m["Spearman(uncertainty, |error|)"] == f"{rm['mc_dropout']['spearman_uncertainty_error']:.3f}"
    assert len(at.get("plotly_chart")) == len(SIGNALS)
    assert at.success and "grows" in at.success[0].value
    ones = [s for s in SIGNALS if 1 in rm["reliability"][s]["count"]]
    small = next(w.value for w in at.warning if "bin from" in w.value)
    assert ones and all(f"{s} bin from" in small for s in ones)  # the one-sample bin is named
    spec = at.get("plotly_chart")[0].proto.spec
    assert "n=1" in spec or "safety" not in ones  # bin counts are drawn on the diagram
    defs = at.dataframe[0].value  # every ECE with what it was measured on
    assert defs["max"].tolist() == [round(rm["ece_max"], 4), round(max(
        dashboard_outputs["evaluation"]["calibration"]["ece"].values()), 4)]


def test_probes(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "probes")
    rep = dashboard_outputs["probes"]
    m = metrics(at)
    assert m["RL overall risk"] == f"{rep['summary']['rl_model_overall_risk']:.3f}"
    sus = rep["summary"]["reward_model_susceptibility"]
    assert m["Reward-model susceptibility"] == f"{sus['above_reference_pct']:.1f}%"
    assert at.error and f"{sus['above_reference_pct']:.1f}%" in at.error[0].value
    assert at.radio[0].value == "rl_model"  # the policy that ships is shown first
    worst = max(rep["base_model"], key=lambda p: rep["base_model"][p]["num_failures"])
    at.selectbox[0].select(worst).run()
    at.radio[0].set_value("base_model").run()
    fails = at.dataframe[-1].value
    assert len(fails) == len(rep["base_model"][worst]["failures"]) > 0
    assert fails["prompt"].iloc[0] == rep["base_model"][worst]["failures"][0]["prompt"]
    first = rep["base_model"][worst]["failures"][0]
    assert first["response"] in [t.value for t in at.text]  # the whole response, not a cut cell
    at.radio[0].set_value("rl_model").run()
    n = len(rep["rl_model"][worst]["failures"])
    assert (len(at.dataframe[-1].value) == n) if n else ("No failures" in at.success[0].value)


def test_benchmarks_without_a_report_names_the_command(tmp_path, monkeypatch):
    at = open_page(tmp_path / "nothing", "benchmarks")
    assert "benchmarks/report.json does not exist yet" in text_of(at)
    assert at.code[0].value.startswith("saferlhf benchmark")


def test_benchmarks(dashboard_outputs, monkeypatch):
    from saferlhf import dashboard_benchmarks as db

    at = open_page(dashboard_outputs["layout"].root, "benchmarks")
    rep = dashboard_outputs["benchmarks"]["report"]
    assert not rep.gate.passed
    gate = at.error[0].value
    assert "Gate failed" in gate and all(line in gate for line in db.regression_lines(rep))
    worse = rep.benchmarks[0]
    assert any(f"{worse.in_training_data} of {worse.n_prompts} prompts" in w.value for w in at.warning)
    tables = [d.value for d in at.dataframe]
    first = tables[0]
    assert list(first.columns) == db.COLUMNS  # base before RL; the verdict only colours
    for row, (j, m) in zip(first.itertuples(), [(j, m) for j in worse.judges for m in j.overall]):
        assert (row.judge, row.base, row.RL) == (j.judge, db.pct(m.base), db.pct(m.rl))
    (pair,) = worse.agreement
    assert tables[1]["kappa"].iloc[0] == pytest.approx(pair.kappa)
    captions = [c for img in at.get("image") for c in img.captions]
    assert captions == [p.rsplit("/", 1)[-1] for p in rep.plots] and len(rep.plots) == len(rep.benchmarks)


def test_drift(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "drift")
    runs = dashboard_outputs["drift"]
    m = metrics(at)
    assert m["Runs"] == str(len(runs)) and m["Latest run"] == ("PASS" if runs[-1]["passed"] else "FAIL")
    assert m["Drifted share"] == f"{runs[-1]['drift_share']:.2f}"
    assert "safety" in at.error[0].value  # the drifted signals are named
    history = at.dataframe[0].value
    assert history["passed"].tolist() == [r["passed"] for r in reversed(runs)]
    assert at.get("iframe")  # the Evidently report


def test_registry_actions_are_disabled_without_an_operator(dashboard_outputs, monkeypatch):
    monkeypatch.delenv("SAFERLHF_OPERATOR", raising=False)
    at = open_page(dashboard_outputs["layout"].root, "registry")
    assert at.button[0].disabled and "no operator identity" in at.info[0].value


def test_registry_promote_and_rollback(dashboard_outputs, tmp_path, monkeypatch):
    root = tmp_path / "outputs"  # a copy: this test moves the champion
    shutil.copytree(dashboard_outputs["layout"].root, root)
    monkeypatch.setenv("SAFERLHF_OPERATOR", "alice@example.org")
    at = open_page(root, "registry")
    assert not at.button[0].disabled
    assert at.dataframe[0].value["version"].tolist() == [2, 2]
    at.selectbox[0].select("saferlhf-policy").run()
    gates = at.dataframe[2].value
    assert set(gates["result"]) == {"pass"} and "unsafe_reduction" in set(gates["gate"])

    # form widgets: set every field, then submit in one run (as a browser sends a form)
    at.radio[0].set_value("rollback")
    at.text_input[0].input("bad canary")
    at.button[0].click().run()  # confirmation not ticked: nothing changes
    assert any("confirmation" in w.value for w in at.warning)
    assert at.dataframe[0].value["version"].tolist() == [2, 2]
    at.radio[0].set_value("rollback")
    at.text_input[0].input("bad canary")
    at.checkbox[1].check()
    at.button[0].click().run()
    assert not at.exception and "rollback" in at.success[0].value
    champs = at.dataframe[0].value.set_index("model")["version"]
    assert champs["saferlhf-policy"] == 1 and champs["saferlhf-reward-onnx"] == 2

    at.selectbox[1].select(2).run()
    at.radio[0].set_value("promote")
    at.text_input[0].input("canary fixed")
    at.checkbox[1].check()
    at.button[0].click().run()
    assert "promoted" in at.success[0].value
    assert at.dataframe[0].value.set_index("model")["version"]["saferlhf-policy"] == 2
    import mlflow

    assert mlflow.MlflowClient().get_model_version("saferlhf-policy", "2").tags["decided_by"] == "alice@example.org"

@pytest.mark.slow
def test_prompt_tester_scores_with_local_model(dashboard_outputs, tiny_reward_model, tmp_path, monkeypatch):
    """No scorer listens on the configured URL, no policy exists: typed answers are scored by the local reward
    model, and the page shows the reward that model gives."""
    from saferlhf.reward.model import RewardScorer

    root = tmp_path / "outputs"
    shutil.copytree(tiny_reward_model, Layout(root).reward_model)
    at = open_page(root, "prompt_tester")
    prompt, base, rl = "How do I pick a lock?", "Step one: insert a tension wrench.", "I can't help with that."
    at.text_area[0].input(prompt)
    at.text_area[1].input(base)
    at.text_area[2].input(rl)
    at.button[0].click().run()  # one submit of the whole form
    assert not at.exception, [e.value for e in at.exception]
    assert "local reward model" in text_of(at) and "unavailable" in text_of(at)
    want = RewardScorer(tiny_reward_model).reward([prompt, prompt], [base, rl])
    shown = re.findall(r"reward `(-?\d+\.\d{3})`", text_of(at))
    assert shown == [f"{w:.3f}" for w in want]
    summary = at.dataframe[0].value.set_index("policy")  # per policy: refusal rate and reward spread
    assert summary["samples"].tolist() == [1, 1]
    assert summary.loc["base", "refusal_pct"] == 0 and summary.loc["RL", "refusal_pct"] == 100
    assert summary.loc["RL", "reward_mean"] == pytest.approx(want[1], abs=1e-3)
