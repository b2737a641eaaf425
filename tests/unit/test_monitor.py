"""Drift monitor on synthetic prediction logs drawn from the reference's own distribution (the dataset's held-out
labels, scored as a perfect reward model would) vs a shifted one (a jailbreak surge). Real Evidently runs, real
files, the real CLI entry point; no mocks."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from saferlhf.artifacts import Layout
from saferlhf.config import MonitorConfig
from saferlhf.data.loader import LABEL_COLUMNS, load_labels
from saferlhf.errors import UserError
from saferlhf.monitor import run_monitor
from saferlhf.monitor.history import HISTORY_FILE
from saferlhf.monitor.logs import load_prediction_log, select_window
from saferlhf.monitor.reference import load_reference
from saferlhf.monitor.simulate import build_traffic, check_endpoint
from saferlhf.reward.evaluate import reference_frame
from saferlhf.signals import DEFAULT_WEIGHTS, SIGNALS, combined_reward


def log_records(rows: pd.DataFrame, n: int, seed: int, noise: float = 0.01, end: datetime | None = None) -> list[dict]:
    """n scorer log records resampled from dataset rows, scores = labels + small noise, one per second up to `end`."""
    rng = np.random.default_rng(seed)
    pick = rows.iloc[rng.integers(0, len(rows), n)]
    scores = np.clip(pick[LABEL_COLUMNS].to_numpy() + rng.normal(0, noise, (n, 4)), 0, 1)  # (n, 4)
    reward = combined_reward(scores, DEFAULT_WEIGHTS)
    end = end or datetime.now(timezone.utc)
    return [{"timestamp": (end - timedelta(seconds=n - i)).isoformat(), "model_version": "3",
             **dict(zip(SIGNALS, s.tolist())), "reward": float(r), "prompt_length": len(p),
             "response_length": len(resp), "refusal": False}
            for i, (s, r, p, resp) in enumerate(zip(scores, reward, pick["prompt"], pick["response"]))]


def write_log(path: Path, records: list[dict], extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def labels(tiny_layout) -> pd.DataFrame:
    return load_labels(tiny_layout.labels)


@pytest.fixture(scope="module")
def reference(labels, tmp_path_factory) -> Path:
    test = labels[labels.split == "test"].reset_index(drop=True)
    path = tmp_path_factory.mktemp("ref") / "reference_scores.parquet"
    reference_frame(test, test[LABEL_COLUMNS].to_numpy(), DEFAULT_WEIGHTS).to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def surge_rows(labels) -> pd.DataFrame:
    return labels[labels.category.isin(["jailbreak", "adversarial"]) & (labels.response_type == "unsafe")]


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `saferlhf ...` in-process through cli.main (exit codes as a user sees them)."""
    from saferlhf.cli import main

    monkeypatch.setenv("SAFERLHF_TRACKING", "0")
    monkeypatch.setattr(sys, "argv", ["saferlhf", *args])
    with pytest.raises(SystemExit) as exc:
        main()
        sys.exit(0)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


@pytest.fixture(scope="module")
def two_runs(labels, reference, surge_rows, tmp_path_factory):
    """Normal traffic then a jailbreak surge, monitored into the same folder; history bytes after each run."""
    test = labels[labels.split == "test"]
    tmp = tmp_path_factory.mktemp("mon")
    out, snaps = tmp / "monitoring", []
    for name, rows in (("normal", test), ("surge", surge_rows)):
        # 4 corrupted lines in the normal log: truncated JSON, a non-object, a missing signal, a bad timestamp
        bad = ('{"timestamp": "2026-01-01T00:00:00Z", "safety": 0.', "[1, 2]",
               json.dumps({"timestamp": "2026-01-01T00:00:00Z", "toxicity": 0.1}),
               json.dumps({**log_records(test, 1, 9)[0], "timestamp": "yesterday"})) if name == "normal" else ()
        log = write_log(tmp / name / "predictions.jsonl", log_records(rows, 300, seed=1), bad)
        summary = run_monitor(MonitorConfig(log=str(log), reference=str(reference), output_dir=str(out),
                                            tracking=False), Layout(tmp))
        snaps.append((summary.model_dump(), (out / HISTORY_FILE).read_bytes()))
    return out, snaps


def test_normal_traffic_passes(two_runs):
    out, [(normal, _), _] = two_runs
    assert normal["passed"], normal["failed_tests"]
    assert normal["drifted_columns"] == [] and normal["records"] == 300
    assert normal["unsafe_rate"] <= normal["unsafe_rate_ceiling"]
    for f in ("latest.html", "latest.json", HISTORY_FILE):
        assert (out / f).stat().st_size > 0
    assert Path(normal["report"]).is_file() and Path(normal["snapshot"]).is_file()
    doc = json.loads((out / "latest.json").read_text())  # latest = the second (surge) run
    assert {"summary", "metrics", "tests"} <= doc.keys()


def test_jailbreak_surge_fails_naming_drifted_signals(two_runs):
    _, [_, (surge, _)] = two_runs
    assert not surge["passed"]
    assert {"safety", "toxicity"} <= set(surge["drifted_columns"])
    assert surge["unsafe_rate"] > surge["unsafe_rate_ceiling"]
    assert any("unsafe" in t for t in surge["failed_tests"])
    assert surge["columns"]["safety"]["score"] < surge["columns"]["safety"]["threshold"]  # K-S p-value


def test_corrupted_lines_are_skipped_and_counted(two_runs):
    out, [(normal, _), (surge, _)] = two_runs
    assert normal["skipped_lines"] == 4 and surge["skipped_lines"] == 0
    assert len(normal["skipped_examples"]) == 4
    hist = pd.read_csv(out / HISTORY_FILE)
    assert hist["skipped_lines"].tolist() == [4, 0]


def test_history_appends_without_rewriting_earlier_rows(two_runs):
    out, [(_, first), (_, second)] = two_runs
    assert second.startswith(first) and second.count(b"\n") == first.count(b"\n") + 1
    hist = pd.read_csv(out / HISTORY_FILE)
    assert hist["passed"].tolist() == [True, False]
    assert "safety" in hist["drifted_columns"].iloc[1] and pd.isna(hist["drifted_columns"].iloc[0])


def test_cli_exit_codes(monkeypatch, capsys, tmp_path, labels, reference, surge_rows):
    test = labels[labels.split == "test"]
    base = ["--reference", str(reference), "--output-dir", str(tmp_path / "out")]
    ok = write_log(tmp_path / "ok" / "predictions.jsonl", log_records(test, 200, seed=2))
    code, out, _ = cli(monkeypatch, capsys, "monitor", "--log", str(ok.parent), *base)  # short form, folder log
    assert code == 0 and json.loads(out)["passed"] is True
    bad = write_log(tmp_path / "bad.jsonl", log_records(surge_rows, 200, seed=3))
    code, _, err = cli(monkeypatch, capsys, "monitor", "run", "--log", str(bad), *base)
    assert code == 1 and "drift detected" in err and "safety" in err and "toxicity" in err
    code, _, err = cli(monkeypatch, capsys, "monitor", "--log", str(ok), "--window", "10", *base)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()] and "min_records=50" in err and "holds 10 valid" in err
    code, _, err = cli(monkeypatch, capsys, "monitor", "--log", str(tmp_path / "missing.jsonl"), *base)
    assert code == 2 and "not found" in err
    empty = write_log(tmp_path / "empty.jsonl", [], ("", "not json"))
    code, _, err = cli(monkeypatch, capsys, "monitor", "--log", str(empty), *base)
    assert code == 2 and "no records" in err
    assert len(pd.read_csv(tmp_path / "out" / HISTORY_FILE)) == 2  # bad input writes nothing


def test_time_window_below_minimum_states_the_minimum(tmp_path, labels, reference):
    old = datetime.now(timezone.utc) - timedelta(days=3)
    log = write_log(tmp_path / "p.jsonl", log_records(labels, 100, seed=4, end=old))
    cfg = MonitorConfig(log=str(log), reference=str(reference), window="24h", output_dir=str(tmp_path), tracking=False)
    with pytest.raises(UserError, match=r"last 24h .* holds 0 valid record.*min_records=50"):
        run_monitor(cfg, Layout(tmp_path))
    assert not (tmp_path / HISTORY_FILE).exists()


def test_model_version_filter(tmp_path, labels, reference):
    """After a rollout the log mixes versions; --model-version checks only the new one against its reference."""
    old, new = log_records(labels, 60, seed=8), log_records(labels, 40, seed=9)
    log = write_log(tmp_path / "p.jsonl", old + [{**r, "model_version": "4"} for r in new])
    cfg = MonitorConfig(log=str(log), reference=str(reference), model_version="4", min_records=30,
                        output_dir=str(tmp_path), tracking=False)
    summary = run_monitor(cfg, Layout(tmp_path))
    assert summary.records == 40 and summary.model_versions == ["4"]
    with pytest.raises(UserError, match=r"model version 5\).*holds 0 valid"):
        run_monitor(cfg.model_copy(update={"model_version": "5"}), Layout(tmp_path))


def test_window_selection_and_rotated_files(tmp_path, labels):
    now = datetime.now(timezone.utc)
    write_log(tmp_path / "predictions-20260101.jsonl", log_records(labels, 30, seed=5, end=now - timedelta(hours=30)))
    write_log(tmp_path / "predictions.jsonl", log_records(labels, 20, seed=6, end=now))
    df, stats = load_prediction_log(tmp_path)
    assert len(df) == 50 and len(stats.files) == 2 and df["timestamp"].is_monotonic_increasing
    assert len(select_window(df, "24h", now)) == 20
    assert select_window(df, "7").equals(df.iloc[-7:])
    assert len(select_window(df, None)) == 50


def test_bounded_read_keeps_what_the_window_needs_and_gives_the_same_window(tmp_path, labels):
    """Issue 15: the monitor read every file before cutting its window (1.0 GB at 500k records)."""
    import os

    def scorer_format(recs):  # the scorer writes 2026-12-01T21:20:00.123Z; the string pre-filter relies on it
        return [{**r, "timestamp": datetime.fromisoformat(r["timestamp"]).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"}
                for r in recs]

    now = datetime.now(timezone.utc)
    old = write_log(tmp_path / "predictions-20260101.jsonl",
                    log_records(labels, 30, seed=5, end=now - timedelta(hours=30)))
    t = (now - timedelta(hours=30)).timestamp()
    os.utime(old, (t, t))  # rotated 30 h ago: nothing in it can be in a 24 h window
    write_log(tmp_path / "predictions-20260102.jsonl",
              scorer_format(log_records(labels, 2500, seed=6, end=now - timedelta(hours=2))))
    write_log(tmp_path / "predictions.jsonl", scorer_format(log_records(labels, 40, seed=7, end=now)))
    full, _ = load_prediction_log(tmp_path)
    for w in ("24h", "90m", "25", "2000", "100000"):
        part, stats = load_prediction_log(tmp_path, w, now=now)
        pd.testing.assert_frame_equal(select_window(part, w, now).reset_index(drop=True),
                                      select_window(full, w, now).reset_index(drop=True))
        if w.endswith(("h", "m")):
            assert str(old) not in stats.files  # never opened
            assert len(part) == len(select_window(full, w, now))  # older lines dropped while parsing
    part, stats = load_prediction_log(tmp_path, "25", now=now)
    assert len(part) == 1025 and stats.files == [str(tmp_path / "predictions.jsonl"),
                                                 str(tmp_path / "predictions-20260102.jsonl")]


def test_reference_file_errors_and_csv(tmp_path, reference):
    ref, _ = load_reference(reference)
    csv = tmp_path / "ref.csv"
    ref.to_csv(csv, index=False)
    pd.testing.assert_frame_equal(load_reference(csv)[0], ref, check_dtype=False)
    ref.drop(columns=["toxicity"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(UserError, match="lacks column.*toxicity"):
        load_reference(tmp_path / "bad.csv")
    with pytest.raises(UserError, match="reference not found"):
        load_reference(tmp_path / "nope.parquet")


def test_traffic_profiles(labels):
    normal = build_traffic(labels, "normal", 100, seed=0)
    test_prompts = set(labels.loc[labels.split == "test", "prompt"])
    assert len(normal) == 100 and all(it["prompt"] in test_prompts for it in normal)
    surge = build_traffic(labels, "jailbreak-surge", 100, seed=0)
    assert sum(it["category"] in ("jailbreak", "adversarial") for it in surge) >= 80
    toxic = build_traffic(labels, "toxic-shift", 50, seed=0)
    assert sum(it["category"] == "biased_toxic" for it in toxic) >= 40
    assert build_traffic(labels, "normal", 20, seed=1) == build_traffic(labels, "normal", 20, seed=1)
    with pytest.raises(UserError, match="--profile must be one of"):
        build_traffic(labels, "chaos", 10)
    with pytest.raises(UserError, match="--n must be between"):
        build_traffic(labels, "normal", 10**6)


def test_endpoint_must_be_loopback_unless_allowed():
    assert check_endpoint("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1/score"
    assert check_endpoint("http://localhost:8000/v1/score/") == "http://localhost:8000/v1/score"
    with pytest.raises(UserError, match="not loopback"):
        check_endpoint("http://scorer.example.com:8000")
    assert check_endpoint("http://10.0.0.5:8000", allow_remote=True).endswith("/v1/score")
    with pytest.raises(UserError, match="http"):
        check_endpoint("127.0.0.1:8000")


def test_reference_must_belong_to_the_logged_model_version(tmp_path, labels, reference):
    """A bundle's reference is tied to its ONNX files by manifest.json; traffic of another version is refused."""
    import shutil

    from saferlhf.monitor.reference import check_reference_matches, reference_versions
    from saferlhf.serve.bundle import file_sha256, write_manifest

    bundle = tmp_path / "onnx"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(b"graph of the served model")
    shutil.copy(reference, bundle / "reference_scores.parquet")
    write_manifest(bundle)
    served = f"sha256:{file_sha256(bundle / 'model.onnx')[:12]}"
    assert reference_versions(bundle / "reference_scores.parquet") == {served}
    assert reference_versions(reference) is None  # a loose file: unknown, only warned about
    check_reference_matches(bundle / "reference_scores.parquet", {served})
    log = write_log(tmp_path / "p.jsonl", [{**r, "model_version": "sha256:000000000000"}
                                           for r in log_records(labels, 40, seed=3)])
    cfg = MonitorConfig(log=str(log), reference=str(bundle / "reference_scores.parquet"), min_records=30,
                        output_dir=str(tmp_path / "mon"), tracking=False)
    with pytest.raises(UserError, match=r"belongs to model version\(s\) \['sha256:.*holds \['sha256:000000000000'\]"):
        run_monitor(cfg, Layout(tmp_path))
    mixed = [{**r, "model_version": served} for r in log_records(labels, 40, seed=3)]
    write_log(tmp_path / "p.jsonl", mixed + [{**r, "model_version": "sha256:000000000000"}
                                             for r in log_records(labels, 25, seed=4)])
    summary = run_monitor(cfg, Layout(tmp_path))  # after a rollout: only the reference's own version is judged
    assert summary.records == 40 and summary.model_versions == [served]
