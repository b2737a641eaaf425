"""The whole pipeline through kfp.local against a REAL `mlflow server --serve-artifacts` on loopback, reached the way
a cluster's steps reach it: MLFLOW_TRACKING_URI in every step's environment (on a cluster the ConfigMap injects it).
All three models are registered on that server, the champion loads from it with a plain MLflow client, and no
registry file is written under outputs/. Then the same run with the pipeline gate failing: every model is
registered as `challenger` only, the champions stay where they were (the register step honours `promote`).
Two whole-pipeline runs: minutes."""

from __future__ import annotations

import os
import subprocess

import pandas as pd
import pytest
import yaml

from saferlhf.config import REGISTERED_MODELS
from tests.conftest import REPO
from tests.integration.test_pipeline_local import SAFERLHF, TINY
from tests.integration.test_registry import mlflow_server  # noqa: F401 - the real server fixture

pytestmark = pytest.mark.slow
ONNX = "saferlhf-reward-onnx"
# Gates the tiny run passes by construction: an RL step too small to move the policy (unsafe reduction 0, the
# inclusive minimum) and absolute reward thresholds at their extremes; the gate logic itself is unit-tested.
PASSING = {"registry": {"min_unsafe_reduction": 0.0, "max_over_refusal_increase": 1.0, "max_probe_risk": 1.0,
                        "min_pairwise_accuracy": 0.0, "max_ece": 1.0},
           "rl": {**TINY["rl"], "learning_rate": 1e-12}}


def run(root, url: str, overrides: dict) -> subprocess.CompletedProcess:
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({"output_root": str(root / "outputs"), **TINY, **overrides}))
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "160",
           "HOME": str(root), "MLFLOW_TRACKING_URI": url, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    return subprocess.run([SAFERLHF, "--config", str(config), "pipeline", "run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=2400)


def client(url: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=url, registry_uri=url)


def champions(url: str) -> dict[str, str | None]:
    from mlflow.exceptions import MlflowException

    out = {}
    for name in REGISTERED_MODELS:
        try:
            out[name] = str(client(url).get_model_version_by_alias(name, "champion").version)
        except MlflowException:
            out[name] = None
    return out


@pytest.fixture(scope="module")
def passed_run(mlflow_server, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("pipeline_mlflow")
    r = run(root, mlflow_server, PASSING)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return root, r


def test_all_models_are_registered_on_the_server_and_the_champion_loads(mlflow_server, passed_run):  # noqa: F811
    import mlflow

    out = passed_run[0] / "outputs"
    for name in REGISTERED_MODELS:
        (found,) = client(mlflow_server).search_model_versions(f"name='{name}'")
        version = client(mlflow_server).get_model_version(name, found.version)  # search results carry no aliases
        assert {"challenger", "champion"} <= set(version.aliases), name
    test = pd.read_csv(out / "data" / "safety_labels.csv").query("split == 'test'").head(4)
    mlflow.set_tracking_uri(mlflow_server)
    model = mlflow.pyfunc.load_model(f"models:/{ONNX}@champion")
    got = model.predict(test[["prompt", "response"]].reset_index(drop=True))
    assert len(got) == 4 and got["reward"].between(-10, 10).all()


def test_no_registry_file_is_written_under_outputs(passed_run):
    out = passed_run[0] / "outputs"
    leftovers = [p for p in out.rglob("*") if p.suffix == ".db" or p.name in ("mlruns", "mlartifacts")]
    assert not leftovers, leftovers


def test_a_held_run_registers_challengers_only(mlflow_server, passed_run):  # noqa: F811
    before = champions(mlflow_server)
    assert all(before.values()), before
    root = passed_run[0]  # same output root: the step cache serves every step up to the gate
    # a policy-only gate the tiny RL policy fails (no probe risk at all); the reward models' own gates still pass
    r = run(root, mlflow_server, {**PASSING, "registry": {**PASSING["registry"], "max_probe_risk": 0.0}})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    decision = (root / "outputs" / "promotion_decision.md").read_text()
    assert "keep as `challenger`" in decision and "probe_risk" in decision, decision  # the gate did fail
    assert champions(mlflow_server) == before
    for name in REGISTERED_MODELS:
        found = max(client(mlflow_server).search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
        latest = client(mlflow_server).get_model_version(name, found.version)
        assert int(latest.version) == 2 and "challenger" in latest.aliases, name
        assert latest.tags["gate_decision"] == "rejected" and "promotion held" in latest.tags["gate_reason"], name
