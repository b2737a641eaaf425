"""Every dashboard page through streamlit.testing.v1.AppTest: rendered from fixture outputs written in the real
schemas (tests/fixtures/dashboard_outputs.py), each page shows the numbers in those files; with no outputs,
each page says what to run instead of raising."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from saferlhf.artifacts import Layout
from saferlhf.signals import SIGNALS
from tests.conftest import REPO, free_port
from tests.fixtures.dashboard_outputs import mlflow_state_restored

APP = REPO / "dashboard" / "app.py"
PAGES = ["overview", "before_after", "training", "safety_metrics", "calibration", "probes", "prompt_tester", "drift",
         "registry"]


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
        at.switch_page(f"pages/{page}.py").run()
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
    assert m["Overall probe risk"] == f"{probes['base_model_overall_risk']:.3f} → {probes['rl_model_overall_risk']:.3f}"
    assert m["KL(RL‖base)"] == f"{res['kl_divergence']['sampled']:.4f}"
    dot = at.get("graphviz_chart")[0].proto.spec
    assert 'evaluate [label="Evaluation\\ndone"' in dot and 'policy [label="Base policy\\nmissing"' in dot
    champs = at.dataframe[0].value
    assert set(champs["model"]) == set(dashboard_outputs["registry"]["decisions"])
    assert champs["version"].tolist() == [2, 2]


def test_before_after_filters(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "before_after")
    res = dashboard_outputs["evaluation"]
    assert f"{res['num_prompts']} prompts match" in text_of(at)
    first = res["records"][0]
    assert f"**{first['prompt_id']}**" in text_of(at) and first["response"] in text_of(at)
    jail = {r["prompt_id"] for r in res["records"] if r["category"] == "jailbreak"}
    at.selectbox[0].select("jailbreak").run()
    assert f"{len(jail)} prompts match" in text_of(at)
    at.text_input[0].input("no such words anywhere").run()
    assert "0 prompts match" in text_of(at)
    assert at.get("plotly_chart")  # reward distribution overlay


def test_training(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "training")
    last = dashboard_outputs["training"][-1]
    m = metrics(at)
    assert m[f"KL (step {last['step']})"] == f"{last['kl']:.4g}" and m[f"λ (step {last['step']})"] == f"{last['lambda']:.4g}"
    assert len(at.get("plotly_chart")) == 7  # reward, signals, KL, beta/lambda, entropy, length, cost


def test_safety_metrics(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "safety_metrics")
    res = dashboard_outputs["evaluation"]
    table = at.dataframe[0].value.set_index("metric")
    assert table.loc["Unsafe outputs %", "base"] == pytest.approx(res["unsafe_output_pct"]["base"])
    assert table.loc["Mean toxicity", "improvement"] == pytest.approx(res["toxicity_reduction_pct"])
    assert table.loc["Adversarial prompts answered safely %", "rl"] == pytest.approx(
        res["adversarial_robustness"]["rl_safe_pct"])
    per_cat = at.dataframe[1].value.set_index("category")
    assert per_cat.loc["jailbreak", "RL"] == pytest.approx(res["per_category_unsafe_pct"]["jailbreak"]["rl"])


def test_calibration(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "calibration")
    rm = dashboard_outputs["reward"]
    m = metrics(at)
    for s in SIGNALS:
        assert m[f"ECE {s}"] == f"{rm['ece'][s]:.4f}"
    assert m["Spearman(uncertainty, |error|)"] == f"{rm['mc_dropout']['spearman_uncertainty_error']:.3f}"
    assert len(at.get("plotly_chart")) == len(SIGNALS)
    assert at.success and "grows" in at.success[0].value


def test_probes(dashboard_outputs, monkeypatch):
    at = open_page(dashboard_outputs["layout"].root, "probes")
    rep = dashboard_outputs["probes"]
    assert metrics(at)["RL overall risk"] == f"{rep['summary']['rl_model_overall_risk']:.3f}"
    worst = max(rep["base_model"], key=lambda p: rep["base_model"][p]["num_failures"])
    at.selectbox[0].select(worst).run()
    fails = at.dataframe[-1].value
    assert len(fails) == len(rep["base_model"][worst]["failures"]) > 0
    assert fails["prompt"].iloc[0] == rep["base_model"][worst]["failures"][0]["prompt"]
    at.radio[0].set_value("rl_model").run()
    n = len(rep["rl_model"][worst]["failures"])
    assert (len(at.dataframe[-1].value) == n) if n else ("No failures" in at.success[0].value)


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
    assert "confirmation" in at.warning[0].value
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
    shown = [m.value for m in at.metric if m.label == "reward"]
    assert shown == [f"{w:.3f}" for w in want]
