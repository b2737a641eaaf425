"""saferlhf.dashboard_live: scorer answers, endpoint -> local fallback, registry guards, the streamlit command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from saferlhf import dashboard_live as dl
from saferlhf.artifacts import Layout
from saferlhf.config import DashboardConfig, RegistryConfig
from saferlhf.dashboard_data import NotReady
from saferlhf.errors import UserError
from saferlhf.signals import SIGNALS, combined_reward
from tests.conftest import free_port

ITEM = {"safety": 0.9, "toxicity": 0.1, "hallucination_risk": 0.2, "compliance": 0.8, "reward": 1.0}


def test_parse_score_response():
    body = {"model_name": "saferlhf-reward", "model_version": "3", "results": [ITEM, {**ITEM, "safety": 0.1}]}
    df = dl.parse_score_response(body, 2)
    assert list(df.columns) == [*SIGNALS, "reward"] and df["safety"].tolist() == [0.9, 0.1]


@pytest.mark.parametrize("body", [{"results": [ITEM]}, {"error": "bad"}, {"results": [{"safety": 1.0}] * 2}, "x",
                                  [ITEM, ITEM]])
def test_parse_score_response_rejects(body):
    with pytest.raises(ValueError):
        dl.parse_score_response(body, 2)


class ConstantScorer:
    """Tiny stand-in for RewardScorer (same two attributes the dashboard uses)."""

    weights = (1.0, 1.0, 1.0, 0.5)

    def scores(self, prompts, responses):
        return np.tile([[0.8, 0.1, 0.2, 0.9]], (len(prompts), 1))  # (N, 4)


def test_score_pairs_falls_back_to_local_model_when_no_endpoint_listens():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    df, source = dl.score_pairs(["p", "q"], ["a", "b"], url, ConstantScorer, timeout=2)
    assert source.startswith("local reward model") and "unavailable" in source
    assert df["reward"].iloc[0] == pytest.approx(combined_reward([[0.8, 0.1, 0.2, 0.9]])[0])
    df, source = dl.score_pairs(["p"], ["a"], None, ConstantScorer)
    assert "no scorer URL" in source and len(df) == 1


def test_local_scorer_missing_model_is_not_ready(tmp_path):
    with pytest.raises(NotReady, match="saferlhf reward train"):
        dl.load_local_scorer(tmp_path)


def test_policy_paths_only_lists_saved_policies(tmp_path):
    layout = Layout(tmp_path)
    (layout.rl_policy).mkdir(parents=True)
    (layout.rl_policy / "training_stats.json").write_text("[]")  # stats but no saved model yet
    assert dl.policy_paths(layout) == {}
    (layout.base_policy).mkdir(parents=True)
    (layout.base_policy / "config.json").write_text("{}")
    assert dl.policy_paths(layout) == {"base": layout.base_policy}


def test_registry_absent_is_not_ready(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(NotReady, match="no MLflow registry"):
        dl.registry_versions(RegistryConfig(), Layout(tmp_path))
    for call in (lambda: dl.promote_version(RegistryConfig(), Layout(tmp_path), "m", 1, "  ", operator="qa"),
                 lambda: dl.rollback_model(RegistryConfig(), Layout(tmp_path), "m", "", operator="qa")):
        with pytest.raises(UserError, match="reason"):
            call()
    with pytest.raises(UserError, match="SAFERLHF_OPERATOR"):  # no identity: refused before anything else
        dl.promote_version(RegistryConfig(), Layout(tmp_path), "m", 1, "a reason")


def test_streamlit_command(tmp_path):
    cfg = DashboardConfig(host="127.0.0.1", port=8765, scorer_url="http://127.0.0.1:1")
    argv, env = dl.streamlit_command(cfg, Layout(tmp_path / "out"), tmp_path / "c.yaml")
    assert argv[:4] == [sys.executable, "-m", "streamlit", "run"] and argv[4].endswith("dashboard/app.py")
    assert argv[argv.index("--server.port") + 1] == "8765" and argv[argv.index("--server.headless") + 1] == "true"
    assert argv[argv.index("--client.toolbarMode") + 1] == "viewer"  # no Deploy button in an offline tool
    assert env["SAFERLHF_OUTPUT_ROOT"] == str((tmp_path / "out").resolve())
    assert env["SAFERLHF_CONFIG"] == str((tmp_path / "c.yaml").resolve())
    assert DashboardConfig.model_validate_json(env["SAFERLHF_DASHBOARD"]) == cfg
    assert json.loads(env["SAFERLHF_DASHBOARD"])["port"] == 8765


def test_cli_dashboard_reports_a_missing_app(tmp_path):
    """`saferlhf dashboard` builds its command inside the CLI context; a missing app is one line, exit 2."""
    import os
    import subprocess

    env = {**os.environ, "SAFERLHF_DASHBOARD_APP": str(tmp_path / "nowhere.py")}
    out = subprocess.run([str(Path(sys.executable).with_name("saferlhf")), "--output-root", str(tmp_path),
                          "dashboard", "--port", "8765"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1] == f"error: dashboard app not found at {tmp_path / 'nowhere.py'}; " \
                                                  "set SAFERLHF_DASHBOARD_APP to dashboard/app.py"
