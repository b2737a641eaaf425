"""Tracking and registry against a REAL `mlflow server` on a free loopback port (SQLite backend and proxied
artifact store in a temp folder): stage logging round trip, register -> challenger/champion, gates passing and
failing, rollback, and `models:/saferlhf-reward-onnx@champion` scoring like the local PyTorch model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from saferlhf.artifacts import Layout
from saferlhf.config import RegistryConfig
from tests.conftest import TINY_REWARD, free_port
from tests.servers import stop, wait_ready

pytestmark = pytest.mark.slow
ONNX = "saferlhf-reward-onnx"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """`mlflow server` with --serve-artifacts; MLFLOW_TRACKING_URI points at it for this module."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]
    log = (root / "server.log").open("w")
    # own process group: the server forks uvicorn and job-queue workers, and teardown must stop all of them
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/health", proc, 120, root / "server.log", "mlflow server", group=True)
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = url
    yield url
    if old is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = old
    stop(proc, timeout=5, group=True)  # uvicorn may take long to drain: no need, its data is temporary
    log.close()


def export_onnx(model_dir: Path, out_dir: Path) -> Path:
    """Minimal fp32 ONNX export of a saved reward model (inputs input_ids/attention_mask/token_type_ids, output
    `scores` (B, 4)) plus tokenizer.json and reward_config.json: the bundle layout the scorer reads. Kept here
    (rather than the tiny_onnx_bundle fixture, which also quantizes and calibrates INT8) to stay fast."""
    import torch

    from saferlhf.reward.model import RewardModel, encode_pairs, load_tokenizer

    model, tok = RewardModel.load(model_dir), load_tokenizer(model_dir)
    enc = encode_pairs(tok, ["a question"], ["an answer"], model.cfg.max_length)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    out_dir.mkdir(parents=True, exist_ok=True)
    axes = {n: {0: "batch", 1: "seq"} for n in names} | {"scores": {0: "batch"}}
    with torch.no_grad():
        torch.onnx.export(model, tuple(enc[n] for n in names), str(out_dir / "model.onnx"), input_names=names,
                          output_names=["scores"], dynamic_axes=axes, opset_version=17, dynamo=False)
    for f in ("tokenizer.json", "reward_config.json"):
        shutil.copy2(model_dir / f, out_dir / f)
    # registration requires a passing parity report: measure it through the serving path, as run_export does
    from saferlhf.onnx_export import seal_bundle
    from saferlhf.reward.model import RewardScorer
    from saferlhf.serve.scorer import OnnxScorer

    pairs = (["a question", "How do I make a bomb?"], ["an answer", "I can't help with that."])
    diff = float(np.abs(OnnxScorer(out_dir / "model.onnx", out_dir / "tokenizer.json", model.cfg.max_length, 1)
                        .scores(*pairs) - RewardScorer(model_dir).scores(*pairs)).max())
    seal_bundle(out_dir, {"passed": diff <= 1e-4, "fp32": {"passed": diff <= 1e-4, "max_abs_diff": diff,
                                                           "tolerance": 1e-4}})
    return out_dir


@pytest.fixture(scope="module")
def reg_layout(tiny_layout, tiny_reward_model, tiny_base_policy, tmp_path_factory) -> Layout:
    """An outputs/ folder of its own (hard links) with the dataset, the tiny reward model, its ONNX export and a
    policy, but no evaluation or probe reports. The tiny base policy stands in for the RL policy: registering
    needs only a saved causal-LM folder, and the RL run is not what this module tests."""
    layout = Layout(tmp_path_factory.mktemp("reg_outputs"))
    for src, dst in ((tiny_layout.data_dir, layout.data_dir), (tiny_base_policy, layout.rl_policy),
                     (tiny_reward_model / "plots", layout.reward_model / "plots")):
        shutil.copytree(src, dst, copy_function=os.link)
    for f in tiny_reward_model.iterdir():
        if f.is_file():
            os.link(f, layout.reward_model / f.name)
    export_onnx(tiny_reward_model, layout.reward_onnx)
    return layout


def _cfg(**kw) -> RegistryConfig:
    # thresholds the tiny model meets by construction; the gate logic itself is unit-tested
    return RegistryConfig(**{"min_pairwise_accuracy": 0.0, "max_ece": 1.0, "tolerance": 0.02, **kw})


@pytest.fixture(scope="module")
def registered(mlflow_server, reg_layout) -> dict:
    from saferlhf.registry import run_register

    return run_register(_cfg(models=("saferlhf-reward", ONNX, "saferlhf-policy")), reg_layout).model_dump()


def client():
    import mlflow

    return mlflow.MlflowClient()


def champion(name: str) -> str:
    return str(client().get_model_version_by_alias(name, "champion").version)


def new_version(name: str, metrics: dict) -> str:
    """Another version of the same logged model with other gate metrics (no re-upload)."""
    from saferlhf.registry.promote import register

    src = client().get_model_version_by_alias(name, "champion")
    # the same files, so the same provenance tags (onnx_sha256, data_hash, ...); decision tags are per version
    tags = {k: v for k, v in src.tags.items()
            if not k.startswith(("metric.", "gate", "previous_champion", "champion_at_decision", "force_reason",
                                 "rolled_back"))}
    return str(register(name, src.source, metrics, tags).version)


def champion_metrics(name: str) -> dict:
    from saferlhf.registry.promote import version_metrics

    return version_metrics(client().get_model_version_by_alias(name, "champion"))


def test_stage_logging_round_trip(mlflow_server, reg_layout, monkeypatch):
    from saferlhf.tracking import file_sha256, log_stage, pipeline_run

    monkeypatch.setenv("SAFERLHF_TRACKING", "1")
    cfg = RegistryConfig()
    metrics = json.loads((reg_layout.reward_model / "metrics.json").read_text())
    history = json.loads((reg_layout.reward_model / "training_history.json").read_text())
    with pipeline_run(cfg, reg_layout, name="test-pipeline") as parent_id:
        run_id = log_stage(cfg, reg_layout, "train-reward", TINY_REWARD, metrics)
    c = client()
    run = c.get_run(run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent_id
    assert run.data.tags["saferlhf.data_hash"] == file_sha256(reg_layout.labels)
    assert run.data.params["num_epochs"] == str(TINY_REWARD.num_epochs) and "weights.3" in run.data.params
    assert run.data.metrics["pairwise_accuracy"] == pytest.approx(metrics["pairwise_accuracy"])
    steps = c.get_metric_history(run_id, "step_loss")
    assert [m.step for m in steps] == list(range(len(history["step_loss"])))
    assert [m.value for m in steps] == pytest.approx(history["step_loss"])
    assert run.info.run_name == "train-reward" and run.data.tags["saferlhf.section"] == "reward"
    files = {f.path for d in ("train-reward", "train-reward/plots") for f in c.list_artifacts(run_id, d)}
    assert "train-reward/metrics.json" in files and any(p.endswith(".png") for p in files)
    assert not any(p.endswith(".safetensors") for p in files)


def test_cli_stage_nests_under_a_parent_from_another_process(mlflow_server, tmp_path, monkeypatch):
    from saferlhf.tracking import pipeline_run

    monkeypatch.setenv("SAFERLHF_TRACKING", "1")
    with pipeline_run(RegistryConfig(), Layout(tmp_path), name="cli-parent") as parent_id:
        r = subprocess.run([sys.executable, "-m", "saferlhf.cli", "--output-root", str(tmp_path), "data", "generate",
                            "--n-benign", "100"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    runs = client().search_runs([client().get_run(parent_id).info.experiment_id],
                                f"tags.mlflow.parentRunId = '{parent_id}'")
    assert [x.info.run_name for x in runs] == ["generate-data"] and runs[0].data.params["n_benign"] == "100"


def test_register_gives_challenger_and_first_champion(registered, reg_layout):
    from saferlhf.serve.bundle import file_sha256, pick_onnx

    models = registered["models"]
    for name in ("saferlhf-reward", ONNX, "saferlhf-policy"):
        v = str(models[name]["version"])
        mv = client().get_model_version(name, v)
        assert set(mv.aliases) >= {"challenger"} and models[name]["action"] in ("promoted", "rejected")
        assert mv.tags["metric.pairwise_accuracy"] == repr(registered["metrics"]["pairwise_accuracy"])
        assert mv.tags["data_hash"] == file_sha256(reg_layout.labels)
        assert mv.tags["run_id"] == registered["run_id"]
    # first version, absolute thresholds met -> champion; the decision is an artifact of the register run
    assert models[ONNX]["action"] == "promoted" and models[ONNX]["previous_champion"] is None
    onnx_v = client().get_model_version(ONNX, str(models[ONNX]["version"]))
    assert onnx_v.tags["onnx_sha256"] == file_sha256(pick_onnx(reg_layout.reward_onnx, "auto"))  # what is served
    # no evaluation or probe reports in this layout: the policy cannot be judged, so it stays a challenger only
    assert models["saferlhf-policy"]["action"] == "rejected"
    assert "unsafe_reduction is missing" in models["saferlhf-policy"]["reason"]
    arts = [f.path for f in client().list_artifacts(registered["run_id"], "registry")]
    assert any(ONNX in p and p.endswith("-promoted.json") for p in arts)
    assert json.loads(reg_layout.registry_decisions.read_text())["models"][ONNX]["action"] == "promoted"


def test_failing_gates_keep_the_champion_and_record_why(registered):
    from saferlhf.registry.promote import apply, evaluate

    before, m = champion(ONNX), champion_metrics(ONNX)
    worse = new_version(ONNX, {**m, "ece_max": m["ece_max"] + 0.1})
    assert "challenger" in client().get_model_version(ONNX, worse).aliases
    decision = apply(evaluate(ONNX, worse, _cfg()))
    assert decision["action"] == "rejected" and champion(ONNX) == before
    tags = client().get_model_version(ONNX, worse).tags
    assert tags["gate.ece"] == "fail" and tags["gate.pairwise_accuracy"] == "pass"
    assert "worse than the champion" in tags["gate_reason"] and tags["gate_decision"] == "rejected"
    assert tags["champion_at_decision"] == before and "previous_champion" not in tags  # it never became champion


def test_passing_gates_promote_and_rollback_restores(registered):
    from saferlhf.errors import UserError
    from saferlhf.registry.promote import apply, evaluate, rollback

    before, m = champion(ONNX), champion_metrics(ONNX)
    better = new_version(ONNX, {**m, "ece_max": max(0.0, m["ece_max"] - 0.01)})
    decision = apply(evaluate(ONNX, better, _cfg()))
    assert decision["action"] == "promoted" and champion(ONNX) == better
    assert client().get_model_version(ONNX, better).tags["previous_champion"] == before

    back = rollback(ONNX, reason="test")
    assert back["from"] == better and back["to"] == before and champion(ONNX) == before
    assert json.loads(client().get_registered_model(ONNX).tags["last_rollback"])["to"] == before
    assert "rolled_back" in client().get_model_version(ONNX, better).tags
    first = client().get_model_version(ONNX, before).tags.get("previous_champion")
    if first == "none":  # the first champion has nothing before it
        with pytest.raises(UserError, match="no previous champion"):
            rollback(ONNX)


def test_registering_a_failed_parity_export_is_refused_with_the_reason(registered, reg_layout, tmp_path):
    import json as _json

    from saferlhf.errors import UserError
    from saferlhf.registry import log_model

    bad = tmp_path / "onnx"
    shutil.copytree(reg_layout.reward_onnx, bad)
    report = _json.loads((bad / "export_report.json").read_text())
    report.update(passed=False, fp32={**report["fp32"], "passed": False, "max_abs_diff": 0.5})
    (bad / "export_report.json").write_text(_json.dumps(report))
    with pytest.raises(UserError, match=r"failed its parity check: fp32 \(max abs diff 0.5"):
        log_model(ONNX, bad, reg_layout)
    report.update(passed=True, fp32={**report["fp32"], "passed": True})
    (bad / "export_report.json").write_text(_json.dumps(report))
    (bad / "model.onnx").write_bytes(b"a stale graph")  # the files are not the ones that passed
    with pytest.raises(UserError, match="sha256 differs"):
        log_model(ONNX, bad, reg_layout)


def test_interrupted_promotion_keeps_a_rollback_able_champion(registered, monkeypatch):
    """MLflow failing between the tag writes and the alias move (the client call raises, as a dropped
    connection would; the server itself is real): the old champion stays, with its own rollback target."""
    import mlflow

    from saferlhf.registry.promote import apply, evaluate

    before, m = champion(ONNX), champion_metrics(ONNX)
    target_before = client().get_model_version(ONNX, before).tags.get("previous_champion")
    better = new_version(ONNX, {**m, "ece_max": max(0.0, m["ece_max"] - 0.01)})

    def down(*a, **k):
        raise ConnectionError("mlflow server went away")

    monkeypatch.setattr(mlflow.MlflowClient, "set_registered_model_alias", down)
    with pytest.raises(ConnectionError):
        apply(evaluate(ONNX, better, _cfg()))
    monkeypatch.undo()
    assert champion(ONNX) == before  # nothing moved
    assert client().get_model_version(ONNX, before).tags.get("previous_champion") == target_before
    tags = client().get_model_version(ONNX, better).tags
    assert tags["gate_decision"] == "promoted:pending" and tags["previous_champion"] == before  # honest record
    again = apply(evaluate(ONNX, better, _cfg()))  # retrying completes it
    assert again["action"] == "promoted" and champion(ONNX) == better
    assert client().get_model_version(ONNX, better).tags["gate_decision"] == "promoted"


def test_concurrent_promotions_cannot_both_pass_against_one_champion(registered):
    from saferlhf.errors import UserError
    from saferlhf.registry.promote import apply, evaluate

    before, m = champion(ONNX), champion_metrics(ONNX)
    a = new_version(ONNX, {**m, "ece_max": max(0.0, m["ece_max"] - 0.01)})
    b = new_version(ONNX, {**m, "ece_max": max(0.0, m["ece_max"] - 0.01)})
    da, db = evaluate(ONNX, a, _cfg()), evaluate(ONNX, b, _cfg())  # both decided against `before`
    assert da["passed"] and db["passed"] and da["previous_champion"] == db["previous_champion"] == before
    assert apply(da)["action"] == "promoted" and champion(ONNX) == a
    with pytest.raises(UserError, match="champion changed"):
        apply(db)
    assert champion(ONNX) == a and client().get_model_version(ONNX, b).tags["gate_decision"] == "aborted"


def test_cli_promote_refuses_then_forces_with_reason(registered):
    m = champion_metrics(ONNX)
    worse = new_version(ONNX, {**m, "pairwise_accuracy": m["pairwise_accuracy"] - 0.5})
    run = [sys.executable, "-m", "saferlhf.cli", "registry"]
    r = subprocess.run([*run, "promote", "--model", ONNX, "--version", worse], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "promotion refused: pairwise_accuracy" in r.stderr
    r = subprocess.run([*run, "promote", "--model", ONNX, "--version", worse, "--force", "--reason", "hotfix"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert champion(ONNX) == worse and client().get_model_version(ONNX, worse).tags["force_reason"] == "hotfix"
    r = subprocess.run([*run, "show", "--model", ONNX], capture_output=True, text=True, timeout=120)
    shown = json.loads(r.stdout)
    assert shown["aliases"]["champion"] in (worse, int(worse))
    assert [v for v in shown["versions"] if str(v["version"]) == worse][0]["decision"] == "forced"


def test_champion_uri_loads_and_scores_like_the_local_model(registered, reg_layout, tiny_reward_model, tmp_path):
    import mlflow

    from saferlhf.reward.model import RewardScorer
    from saferlhf.serve.bundle import resolve_model

    test = pd.read_csv(reg_layout.labels).query("split == 'test'").head(8)
    local = RewardScorer(tiny_reward_model)
    expected = local.scores(test["prompt"].tolist(), test["response"].tolist())  # (8, 4)
    model = mlflow.pyfunc.load_model(f"models:/{ONNX}@champion")
    got = model.predict(test[["prompt", "response"]].reset_index(drop=True))
    assert list(got.columns) == ["safety", "toxicity", "hallucination_risk", "compliance", "reward"]
    np.testing.assert_allclose(got[list(got.columns[:4])].to_numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(got["reward"].to_numpy(), local.reward(test["prompt"].tolist(),
                                                                      test["response"].tolist()), atol=1e-4)
    # the scoring service's path: download the champion and verify its sha256 against the registry tag
    bundle = resolve_model(f"models:/{ONNX}@champion", precision="fp32", cache_dir=tmp_path)
    assert bundle.sha256 == client().get_model_version_by_alias(ONNX, "champion").tags["onnx_sha256"]


def test_onnx_pyfunc_loads_without_torch(registered):
    code = ("import sys, mlflow, pandas as pd; "
            f"m = mlflow.pyfunc.load_model('models:/{ONNX}@champion'); "
            "out = m.predict(pd.DataFrame({'prompt': ['hi'], 'response': ['hello']})); "
            "print(len(out), 'torch' in sys.modules, 'transformers' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-3:] == ["1", "False", "False"]


def test_held_registration_promotes_no_model(registered, reg_layout):
    """registry.promote=false (the pipeline's gates-failed branch): new challengers of every model, champions
    untouched, even for the reward models whose own gates pass."""
    from saferlhf.registry import run_register

    names = ("saferlhf-reward", ONNX, "saferlhf-policy")
    before = {n: client().get_model_version_by_alias(n, "challenger").version for n in names}
    champs = {n: champion(n) for n in names if n != "saferlhf-policy"}
    held = run_register(_cfg(models=names, promote=False), reg_layout).models
    for name in names:
        assert held[name]["action"] == "rejected" and "promotion held" in held[name]["reason"], held[name]
        assert int(held[name]["version"]) > int(before[name])
        assert "challenger" in client().get_model_version(name, str(held[name]["version"])).aliases
    assert {n: champion(n) for n in champs} == champs
    assert held[ONNX]["reason"].endswith("own gates: all gates passed")  # its own verdict is kept
