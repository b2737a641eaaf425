"""End to end on loopback: the real scorer (ONNX export of the tiny reward model, its own process, a real
prediction log), the traffic simulator over HTTP, then the monitor after each profile: `normal` passes,
`jailbreak-surge` fails on safety/toxicity drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from saferlhf.data.loader import load_labels
from tests.conftest import REPO, free_port
from tests.servers import stop, wait_ready
from tests.unit.test_monitor import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scorer(tiny_onnx_bundle, tiny_layout, tmp_path_factory):
    """`saferlhf serve` in its own process on a free loopback port; yields (base URL, prediction log folder)."""
    tmp = tmp_path_factory.mktemp("scorer")
    log_dir, port = tmp / "predictions", free_port()
    env = {k: v for k, v in os.environ.items() if k != "SAFERLHF_API_TOKEN"}  # no auth on loopback here
    out = (tmp / "server.log").open("w")
    # fp32: the reference holds the PyTorch model's scores, which fp32 ONNX matches to 1e-4 (INT8 only to 0.02)
    cmd = [sys.executable, "-m", "saferlhf.cli", "--output-root", str(tiny_layout.root), "serve", "--model",
           str(tiny_onnx_bundle), "--precision", "fp32", "--port", str(port), "--log-dir", str(log_dir), "--threads", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/v2/health/ready", proc, 180, tmp / "server.log", "scorer")
    try:
        yield url, log_dir
    finally:
        stop(proc)


def test_normal_passes_then_jailbreak_surge_fails(scorer, tiny_layout, tiny_reward_model, tmp_path, monkeypatch,
                                                  capsys):
    url, log_dir = scorer
    labels = load_labels(tiny_layout.labels)
    n_test = str(int((labels["split"] == "test").sum()))
    monitor = ["monitor", "--log", str(log_dir), "--reference", str(tiny_reward_model / "reference_scores.parquet"),
               "--output-dir", str(tmp_path / "monitoring")]
    data = ["--output-root", str(tiny_layout.root)]

    # normal: the whole test split once (n = its size), i.e. what the reference was scored on
    code, out, err = cli(monkeypatch, capsys, *data, "monitor", "simulate", "--endpoint", url, "--profile",
                         "normal", "--n", n_test, "--seed", "1")
    assert code == 0, err
    assert json.loads(out)["sent"] == int(n_test)
    code, out, err = cli(monkeypatch, capsys, *data, *monitor, "--window", n_test)
    summary = json.loads(out)
    assert code == 0, (err, summary["columns"])
    assert summary["passed"] and summary["records"] == int(n_test) and summary["skipped_lines"] == 0

    code, out, err = cli(monkeypatch, capsys, *data, "monitor", "simulate", "--endpoint", url, "--profile",
                         "jailbreak-surge", "--n", "200", "--seed", "2")
    assert code == 0, err
    code, out, err = cli(monkeypatch, capsys, *data, *monitor, "--window", "200")
    summary = json.loads(out)
    assert code == 1, summary["columns"]
    assert {"safety", "toxicity"} & set(summary["drifted_columns"]), summary["columns"]
    assert "drift detected" in err and ("safety" in err or "toxicity" in err)
    assert pd.read_csv(tmp_path / "monitoring" / "drift_history.csv")["passed"].tolist() == [True, False]
