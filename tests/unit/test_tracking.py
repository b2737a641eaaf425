"""Tracking helpers: what a stage result becomes in MLflow, where runs go, and that a tracking failure never
costs a stage its outputs. (The round trip against a real MLflow server is in tests/integration/test_registry.py.)"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from saferlhf.artifacts import Layout
from saferlhf.config import DataConfig, RegistryConfig
from saferlhf.tracking import (config_hash, flatten, numeric_leaves, stage_files, step_series, track_stage,
                               tracking_enabled, tracking_uri)


def test_result_dict_becomes_flat_metrics_without_curves_or_flags():
    result = {"mae": {"safety": 0.1, "toxicity": 0.2}, "passed": True, "path": "x", "nan": float("nan"),
              "step_loss": [0.5] * 100, "pair": [1, 2]}
    assert numeric_leaves(result) == {"mae.safety": 0.1, "mae.toxicity": 0.2, "pair.0": 1.0, "pair.1": 2.0}
    assert flatten({"weights": (1.0, 0.5)}) == {"weights.0": 1.0, "weights.1": 0.5}


def test_step_series_reads_both_stats_layouts():
    records = [{"step": 3, "reward": 0.1, "kl": 0.02, "beta": 0.1}, {"step": 4, "reward": 0.3, "kl": 0.04}]
    s = step_series(records)
    assert s["reward"] == [(3, 0.1), (4, 0.3)] and s["beta"] == [(3, 0.1)]
    history = {"step_loss": [0.9, 0.7, 0.6], "val_loss": [0.8, None], "train_rows": 96}
    s = step_series(history)
    assert s == {"step_loss": [(0, 0.9), (1, 0.7), (2, 0.6)], "val_loss": [(0, 0.8)]}
    assert step_series({"steps": records})["kl"] == [(3, 0.02), (4, 0.04)]


def test_tracking_uri_precedence(tmp_path, monkeypatch):
    layout = Layout(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(RegistryConfig(), layout) == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri(RegistryConfig(), layout) == "http://127.0.0.1:5000"
    assert tracking_uri(RegistryConfig(tracking_uri="sqlite:///x.db"), layout) == "sqlite:///x.db"


def test_enabled_by_config_and_env(monkeypatch):
    monkeypatch.setenv("SAFERLHF_TRACKING", "1")
    assert tracking_enabled(RegistryConfig()) and not tracking_enabled(RegistryConfig(tracking=False))
    monkeypatch.setenv("SAFERLHF_TRACKING", "0")
    assert not tracking_enabled(RegistryConfig())


def test_config_hash_changes_with_config():
    assert config_hash(DataConfig()) == config_hash(DataConfig())
    assert config_hash(DataConfig()) != config_hash(DataConfig(seed=1))


def test_stage_files_are_reports_and_plots_never_weights(tmp_path):
    (tmp_path / "plots").mkdir()
    for name in ("metrics.json", "model.safetensors", "plots/loss.png", "reference_scores.parquet"):
        (tmp_path / name).write_bytes(b"{}")
    assert sorted(p.name for p in stage_files(tmp_path)) == ["loss.png", "metrics.json"]


def test_unreachable_store_is_a_warning_not_an_error(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SAFERLHF_TRACKING", "1")
    bad = RegistryConfig(tracking_uri="sqlite:////proc/no-such-dir/mlflow.db")
    with caplog.at_level(logging.WARNING):
        assert track_stage(bad, Layout(tmp_path), "generate-data", DataConfig(), {"rows": 1}) is None
    assert "could not log stage" in caplog.text


def test_cli_stage_keeps_outputs_when_tracking_fails(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("registry:\n  tracking_uri: sqlite:////proc/no-such-dir/mlflow.db\n")
    env = {**os.environ, "SAFERLHF_TRACKING": "1"}
    r = subprocess.run([sys.executable, "-m", "saferlhf.cli", "--config", str(cfg), "--output-root", str(tmp_path),
                        "data", "generate"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "safety_labels.csv").is_file() and "could not log stage" in r.stderr
