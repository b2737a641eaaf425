"""A real kfp.local run of the whole pipeline (`saferlhf pipeline run`: every step a subprocess, real stages) on a
tiny config with two benchmark files (the fan-out's third item): artifacts published in the seed's layout, the
benchmark gate applied by the promotion gate and the registry, metrics on the Metrics artifacts, a rerun served
from the step cache, and a failing step named in one line. Then the drift-monitor pipeline (`--pipeline monitor`) on small
generated prediction logs: normal traffic passes, a jailbreak surge fails the run or, told not to, reports it."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from saferlhf.data.loader import LABEL_COLUMNS, load_labels
from saferlhf.reward.evaluate import reference_frame
from saferlhf.signals import DEFAULT_WEIGHTS
from tests.conftest import REPO
from tests.unit.test_monitor import log_records, write_log

pytestmark = pytest.mark.slow

SAFERLHF = str(REPO / ".venv" / "bin" / "saferlhf")
TINY = {
    "data": {"seed": 42},
    "reward": {"num_epochs": 1, "max_train_samples": 64, "max_length": 48, "batch_size": 16, "warmup_steps": 2,
               "mc_dropout_passes": 2, "eval_batch_size": 128},
    "policy": {"num_epochs": 1, "n_layer": 1, "n_embd": 32, "n_head": 2, "vocab_size": 512, "batch_size": 64},
    "rl": {"max_steps": 2, "batch_size": 4, "num_generations": 2, "max_new_tokens": 8},
    "evaluate": {"max_prompts": 8, "num_adversarial": 4, "max_new_tokens": 8, "mc_dropout_passes": 2},
    "probe": {"max_prompts_per_probe": 4, "max_new_tokens": 8},
    "export": {"max_parity_samples": 16},
}
# Two files of the benchmark fixture (tests/fixtures/benchmarks/benchmarks.yaml), one to refuse and one to answer,
# relative to the repository as `saferlhf pipeline run` (run from there) reads them; sized to cost seconds.
BENCHMARK = {"files": [{"path": "tests/fixtures/benchmarks/advbench_harmful_behaviors.csv", "format": "advbench"},
                       {"path": "tests/fixtures/benchmarks/jbb_benign-behaviors.csv", "format": "jailbreakbench",
                        "expect": "answer", "name": "jailbreakbench-benign"}],
             "max_prompts": 4, "samples": 1, "bootstrap": 100, "max_new_tokens": 8}


def pipeline_run(config: Path, *params: str, pipeline: str = "saferlhf") -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.time()
    args = [SAFERLHF, "--config", str(config), "pipeline", "run", "--pipeline", pipeline]
    args += [f"--param={p}" for p in params]
    # MLflow stage logging off (SAFERLHF_TRACKING=0): it is tested with the registry; here it would only add time
    r = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=2400,
                       env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                            "COLUMNS": "160", "HOME": str(config.parent), "SAFERLHF_TRACKING": "0"})
    return r, time.time() - t0


def pipeline_seconds(stdout: str) -> float:
    return float(re.search(r"finished in (\d+) s", stdout).group(1))


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({"output_root": str(root / "outputs"), **TINY, "benchmark": BENCHMARK}))
    r, seconds = pipeline_run(config)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return config, root / "outputs", r, seconds


def test_run_publishes_the_seed_layout_and_metrics(first_run):
    _, out, r, _ = first_run
    for rel in ("data/safety_labels.csv", "data/prompts.json", "models/reward_model/model.safetensors",
                "models/reward_model/onnx/model.onnx", "models/base_policy/config.json",
                "models/rl_policy/config.json", "evaluation_results/evaluation_results.json", "probes_report.json",
                "benchmarks/report.json", "promotion_decision.md"):
        assert (out / rel).exists(), rel
    assert "summary" in json.loads((out / "probes_report.json").read_text())
    bench = json.loads((out / "benchmarks" / "report.json").read_text())
    assert [b["name"] for b in bench["benchmarks"]] == ["advbench", "jailbreakbench-benign"]
    # the benchmark gate was evaluated, not skipped: by the promotion gate and by the registry's own evidence
    assert "| benchmarks_not_worse |" in (out / "promotion_decision.md").read_text()
    register = [json.loads(p.read_text()) for p in (out / "pipeline_runs").rglob("metrics")
                if p.parent.name.startswith("register")]
    assert register and all("benchmark_regressions" in m for m in register), register
    # headline numbers were logged on the steps' Metrics artifacts (what the KFP UI shows)
    reward_metrics = next((out / "pipeline_runs").rglob("train-reward/metrics"))
    assert 0.0 <= json.loads(reward_metrics.read_text())["pairwise_accuracy"] <= 1.0
    assert "headline metrics" in r.stdout and "reward model pairwise accuracy" in r.stdout
    assert "Promotion decision" in r.stdout
    assert "assess-policies" in r.stdout and "train-rl" in r.stdout  # every step ran the first time
    # the terminal shows one line per step start/finish and the summary; the steps' own output goes to the log
    assert re.search(r"\+ train-reward  done in \d+ s  pairwise_accuracy \d", r.stdout), r.stdout
    assert len(r.stdout.splitlines()) < 90, r.stdout
    log = Path(re.search(r"step output goes to (\S+)", r.stdout).group(1))
    assert "Executing task" in log.read_text() and "Executing task" not in r.stdout


def test_rerun_is_served_from_the_cache(first_run):
    config, _, r1, _ = first_run
    r2, _ = pipeline_run(config)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert "every step came from the cache" in r2.stdout and "= train-rl  from the cache" in r2.stdout
    assert pipeline_seconds(r2.stdout) <= 0.2 * max(pipeline_seconds(r1.stdout), 1)


def test_a_failing_step_is_named_in_one_line(first_run):
    config, _, _, _ = first_run
    r, _ = pipeline_run(config, 'overrides={"reward": {"model_name": "/nonexistent/encoder"}}')
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: pipeline step 'train-reward' failed: "), last
    assert "nonexistent" in last


# ---------------------------------------------------------------- drift-monitor pipeline


@pytest.fixture(scope="module")
def drift_inputs(tiny_layout, tmp_path_factory):
    """A config (output root only), the reference (the test split's labels as scores) and two prediction logs of
    300 records each: normal traffic drawn from the reference's distribution, and a jailbreak surge."""
    labels = load_labels(tiny_layout.labels)
    test = labels[labels["split"] == "test"].reset_index(drop=True)
    surge = labels[labels["category"].isin(["jailbreak", "adversarial"]) & (labels["response_type"] == "unsafe")]
    root = tmp_path_factory.mktemp("monitor_pipeline")
    reference = root / "reference_scores.parquet"
    reference_frame(test, test[LABEL_COLUMNS].to_numpy(), DEFAULT_WEIGHTS).to_parquet(reference, index=False)
    for name, rows in (("normal", test), ("surge", surge)):
        write_log(root / name / "predictions.jsonl", log_records(rows, 300, seed=1))
    config = root / "monitor.yaml"
    config.write_text(yaml.safe_dump({"output_root": str(root / "outputs")}))
    return config, root, reference


def monitor_run(drift_inputs, log: str, *params: str) -> tuple[subprocess.CompletedProcess, float]:
    config, root, reference = drift_inputs
    return pipeline_run(config, f"log={root / log}", f"reference={reference}", *params, pipeline="monitor")


def last_json(stdout: str) -> dict:
    """The JSON the monitor run prints last (kfp.local's step logs come before it on stdout)."""
    text = "\n" + stdout
    return json.loads(text[text.rindex("\n{\n") + 1:])


def test_monitor_pipeline_passes_normal_traffic(drift_inputs):
    r, seconds = monitor_run(drift_inputs, "normal")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = last_json(r.stdout)
    assert out["passed"] is True and out["drifted"] == ""
    assert "<html" in Path(out["report"]).read_text()[:2000].lower()  # Evidently's report
    assert json.loads(Path(out["snapshot"]).read_text())["summary"]["records"] == 300
    metrics = json.loads(next(Path(out["run_dir"]).rglob("monitor-drift/metrics")).read_text())
    assert metrics["passed"] == 1.0 and metrics["drift_share"] < 0.5
    assert metrics["unsafe_rate"] <= metrics["unsafe_rate_ceiling"]
    assert {"safety.drift_score", "safety.drifted", "toxicity.drift_score"} <= metrics.keys()
    assert seconds < 120


def test_monitor_pipeline_fails_the_step_on_drift(drift_inputs):
    r, _ = monitor_run(drift_inputs, "surge")  # fail_on_drift defaults to true
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: pipeline step 'monitor-drift' failed: DriftDetected: drift detected: "), last
    assert "safety" in last and "toxicity" in last
    run_dir = Path(re.search(r"files in (\S+)$", last).group(1))
    assert next(run_dir.rglob("monitor-drift/report")).stat().st_size > 0  # the report is there to read


def test_monitor_pipeline_reports_drift_when_told_not_to_fail(drift_inputs):
    r, _ = monitor_run(drift_inputs, "surge", "fail_on_drift=false", "window=1000")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = last_json(r.stdout)
    assert out["passed"] is False
    assert {"safety", "toxicity"} <= set(out["drifted"].split(","))
    metrics = json.loads(next(Path(out["run_dir"]).rglob("monitor-drift/metrics")).read_text())
    assert metrics["passed"] == 0.0 and metrics["safety.drifted"] == 1.0
