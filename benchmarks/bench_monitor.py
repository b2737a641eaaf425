"""Drift-monitor benchmark: one monitor run over 100,000 logged predictions (acceptance: <= 60 s on 2 cores).

Writes a synthetic prediction log drawn from the reference distribution (the trained reward model's
reference_scores.parquet when present, else the dataset's held-out labels as a stand-in) plus a second one with a
jailbreak surge, runs the full monitor (parse, window, Evidently report, HTML + snapshot, history) on each, and
writes outputs/bench/monitor.json with wall times and verdicts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from saferlhf.artifacts import Layout
from saferlhf.config import MonitorConfig, load_config
from saferlhf.data.loader import LABEL_COLUMNS, load_labels
from saferlhf.io import write_json
from saferlhf.monitor import run_monitor
from saferlhf.monitor.reference import REFERENCE_FILE
from saferlhf.reward.evaluate import reference_frame
from saferlhf.signals import DEFAULT_WEIGHTS, SIGNALS, combined_reward

REPO = Path(__file__).resolve().parents[1]


def reference_path(layout: Layout, out: Path) -> tuple[Path, str]:
    trained = layout.reward_model / REFERENCE_FILE
    if trained.is_file():
        return trained, "reward model reference_scores.parquet"
    labels = load_labels(layout.labels)
    test = labels[labels["split"] == "test"].reset_index(drop=True)
    path = out / "reference_from_labels.parquet"
    reference_frame(test, test[LABEL_COLUMNS].to_numpy(), DEFAULT_WEIGHTS).to_parquet(path, index=False)
    return path, "held-out labels (no trained reward model found)"


def write_log(path: Path, scores: np.ndarray, lengths: np.ndarray, seed: int) -> None:
    """One JSON line per record in the scorer's log schema, spread over the last 24 h. scores: (N, 4)."""
    rng = np.random.default_rng(seed)
    n = len(scores)
    reward = combined_reward(scores, DEFAULT_WEIGHTS)
    end = datetime.now(timezone.utc)
    stamps = [(end - timedelta(seconds=86_000 * (n - i) / n)).isoformat() for i in range(n)]
    refusal = rng.random(n) < 0.1
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"timestamp": stamps[i], "model_version": "1",
                                **dict(zip(SIGNALS, scores[i].tolist())), "reward": float(reward[i]),
                                "prompt_length": int(lengths[i, 0]), "response_length": int(lengths[i, 1]),
                                "refusal": bool(refusal[i])}) + "\n")


def synthetic(ref: pd.DataFrame, n: int, seed: int, surge: bool) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) scores bootstrapped from the reference (no jitter: a third of the model's toxicity scores sit below
    0.02, so even small additive noise is a real shift); a surge pushes 80% of them to unsafe."""
    rng = np.random.default_rng(seed)
    pick = ref.iloc[rng.integers(0, len(ref), n)]
    scores = pick[list(SIGNALS)].to_numpy().copy()
    if surge:
        hit = rng.random(n) < 0.8
        scores[hit, 0] = rng.uniform(0.02, 0.3, hit.sum())  # safety collapses
        scores[hit, 1] = rng.uniform(0.4, 0.9, hit.sum())  # toxicity rises
    lengths = pick[["prompt_length", "response_length"]].to_numpy()
    return scores, lengths


# ---------------------------------------------------------------- a long log (bench_reliability: 1M records)
def _write_days(folder: Path, scores, lengths, days: int, now: datetime) -> None:
    """The records spread evenly over `days` days, one rotated file per day (mtime = its last record), the
    newest day in predictions.jsonl; scorer record schema and timestamp format."""
    folder.mkdir(parents=True, exist_ok=True)
    n, reward = len(scores), combined_reward(scores, DEFAULT_WEIGHTS)
    per_day = n // days
    for d in range(days):  # d = days ago, oldest first
        lo, hi = (days - 1 - d) * per_day, (days - d) * per_day
        end = now - timedelta(days=d)
        f = folder / ("predictions.jsonl" if d == 0 else f"predictions-{end:%Y%m%dT%H%M%S}000000Z.jsonl")
        with f.open("w") as fh:
            for k, i in enumerate(range(lo, hi)):
                ts = end - timedelta(seconds=86_000 * (hi - lo - k) / (hi - lo))
                fh.write(json.dumps({"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z",
                                     "model_version": "1", **dict(zip(SIGNALS, scores[i].tolist())),
                                     "reward": float(reward[i]), "prompt_length": int(lengths[i, 0]),
                                     "response_length": int(lengths[i, 1]), "refusal": False}) + "\n")
        os.utime(f, (end.timestamp(), end.timestamp()))


def _monitor(log: Path, reference: Path, out: Path) -> dict:
    """`saferlhf monitor --window 24h` in its own process: verdict, records, seconds, its peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERLHF_")} | {"SAFERLHF_TRACKING": "0"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "saferlhf.cli", "monitor", "run", "--log", str(log), "--reference",
                             str(reference), "--window", "24h", "--output-dir", str(out), "--no-tracking"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    summary = json.loads((out / "latest.json").read_text())["summary"] if (out / "latest.json").is_file() else {}
    return {"exit_code": proc.returncode, "passed": summary.get("passed"), "records": summary.get("records"),
            "drifted_columns": summary.get("drifted_columns"), "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def monitor_long_log(model: str, tmp: Path, records: int, days: int = 10) -> dict:
    """The monitor on `records` records over `days` daily files vs on the window's file alone."""
    from saferlhf.serve.bundle import REFERENCE_FILE, find_bundle_dir

    reference = tmp / REFERENCE_FILE  # a loose copy: the synthetic records are not the bundle's own version
    reference.write_bytes((find_bundle_dir(Path(model)) / REFERENCE_FILE).read_bytes())
    scores, lengths = synthetic(pd.read_parquet(reference), records, seed=1, surge=False)
    now = datetime.now(timezone.utc)
    _write_days(tmp / "long-log", scores, lengths, days, now)
    window_only = tmp / "window-log"  # the last day alone: what the verdict must equal
    window_only.mkdir()
    os.link(tmp / "long-log" / "predictions.jsonl", window_only / "predictions.jsonl")
    full = _monitor(tmp / "long-log", reference, tmp / "mon-full")
    alone = _monitor(window_only, reference, tmp / "mon-window")
    return {"records_logged": records, "days": days, "window": "24h", "full_log": full, "window_alone": alone,
            "same_verdict": (full["passed"], full["records"], full["drifted_columns"])
            == (alone["passed"], alone["records"], alone["drifted_columns"]),
            "cronjob_memory_limit_mb": 2048}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="configs/demo.yaml")
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--out", default=None, help="result JSON (default: <output_root>/bench/monitor.json)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("SAFERLHF_TRACKING", "0")  # time the monitor, not an MLflow server
    layout = Layout(Path(load_config(args.config).output_root))
    work = layout.bench / "monitor"
    ref_path, ref_kind = reference_path(layout, work)
    ref = pd.read_parquet(ref_path)
    runs = {}
    for name, surge in (("normal", False), ("jailbreak_surge", True)):
        log = work / name / "predictions.jsonl"
        t0 = time.perf_counter()
        write_log(log, *synthetic(ref, args.records, seed=1, surge=surge), seed=2)
        t_write = time.perf_counter() - t0
        cfg = MonitorConfig(log=str(log), reference=str(ref_path), window="24h", output_dir=str(work / "out"),
                            tracking=False)
        t0 = time.perf_counter()
        s = run_monitor(cfg, layout)
        seconds = time.perf_counter() - t0
        runs[name] = {"records": s.records, "monitor_seconds": round(seconds, 2),
                      "log_write_seconds": round(t_write, 2), "log_mb": round(log.stat().st_size / 2**20, 1),
                      "passed": s.passed, "drifted_columns": s.drifted_columns,
                      "unsafe_rate": round(s.unsafe_rate, 4), "drift_share": s.drift_share}
    result = {
        "command": "make bench-monitor", "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "reference": {"path": str(ref_path), "kind": ref_kind, "rows": len(ref)}, "runs": runs,
        "acceptance": {"100k_records_<=60s": all(r["monitor_seconds"] <= 60 for r in runs.values()),
                       "normal_passes": runs["normal"]["passed"], "surge_fails": not runs["jailbreak_surge"]["passed"]},
    }
    out = write_json(args.out or layout.bench / "monitor.json", result)
    print(f"wrote {out}")
    print(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
