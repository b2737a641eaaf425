"""Prediction log: the record contract the drift monitor reads, whole lines under concurrency, rotation."""

from __future__ import annotations

import json
import threading

import numpy as np

from saferlhf.serve.predlog import PredictionLog
from saferlhf.signals import SIGNALS

KEYS = {"timestamp", "model_version", *SIGNALS, "reward", "prompt_length", "response_length", "refusal"}


def _write(log, n, raw=("How?", "I can't help with that.")):
    scores = np.random.default_rng(0).random((n, 4)).astype(np.float32)
    log.write([raw[0]] * n, [raw[1]] * n, scores, scores[:, 0] - scores[:, 1], "v1")


def test_record_contract_and_raw_text_switch(tmp_path):
    log = PredictionLog(tmp_path / "a")
    _write(log, 3)
    log.close()
    recs = [json.loads(line) for line in (tmp_path / "a" / "predictions.jsonl").read_text().splitlines()]
    assert len(recs) == 3 and all(set(r) == KEYS for r in recs)
    r = recs[0]
    assert r["timestamp"].endswith("Z") and r["model_version"] == "v1"
    assert r["prompt_length"] == 4 and r["response_length"] == 23 and r["refusal"] is True
    log = PredictionLog(tmp_path / "b", raw_text=True)
    _write(log, 1)
    log.close()
    rec = json.loads((tmp_path / "b" / "predictions.jsonl").read_text())
    assert rec["prompt"] == "How?" and rec["response"] == "I can't help with that."


def test_concurrent_writers_and_rotation_lose_nothing(tmp_path):
    log = PredictionLog(tmp_path, max_bytes=4096)
    other = PredictionLog(tmp_path, max_bytes=4096)  # a second server process sharing the folder
    threads = [threading.Thread(target=lambda lg=lg: [_write(lg, 5) for _ in range(20)]) for lg in (log, other) * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    other.close()
    files = sorted(tmp_path.glob("predictions-*.jsonl")) + [tmp_path / "predictions.jsonl"]
    assert len(files) > 2  # rotated
    lines = [line for f in files for line in f.read_text().splitlines()]
    assert len(lines) == 4 * 20 * 5
    assert all(set(json.loads(line)) == KEYS for line in lines)  # every line a whole record


def test_renamed_or_deleted_log_is_followed_at_once(tmp_path):
    """Issue 15: after a rename or delete under the writer, its next records went to the old inode (7 -> 5)."""
    log = PredictionLog(tmp_path)
    _write(log, 2)
    (tmp_path / "predictions.jsonl").rename(tmp_path / "moved.jsonl")
    _write(log, 3)
    (tmp_path / "predictions.jsonl").unlink()
    _write(log, 4)
    log.close()
    assert len((tmp_path / "moved.jsonl").read_text().splitlines()) == 2
    assert len((tmp_path / "predictions.jsonl").read_text().splitlines()) == 4  # the 3 went with the delete


def test_full_disk_raises_and_marks_unavailable_then_recovers(tmp_path, monkeypatch):
    import saferlhf.serve.predlog as predlog
    from saferlhf.serve.predlog import LogWriteError

    (tmp_path / "predictions.jsonl").symlink_to("/dev/full")  # every write: ENOSPC
    log = PredictionLog(tmp_path)
    assert log.available
    try:
        _write(log, 2)
        raise AssertionError("a write to /dev/full must fail")
    except LogWriteError as e:
        assert "predictions.jsonl" in str(e) and "space" in str(e).lower()
    assert not log.available and log.write_errors == 1 and log.error
    (tmp_path / "predictions.jsonl").unlink()  # space again: a regular file
    monkeypatch.setattr(predlog, "RETRY_SECONDS", 0.0)
    assert log.available
    _write(log, 2)
    assert log.error is None
    log.close()
    assert len((tmp_path / "predictions.jsonl").read_text().splitlines()) == 2


def test_short_write_is_finished_or_reported(tmp_path, monkeypatch):
    import os

    import saferlhf.serve.predlog as predlog
    from saferlhf.serve.predlog import LogWriteError

    real = os.write
    calls = []

    def short(fd, data):  # the first write of each record stops half way, as on a nearly full disk
        calls.append(len(data))
        return real(fd, data[: len(data) // 2]) if len(calls) % 2 else real(fd, data)

    log = PredictionLog(tmp_path)
    monkeypatch.setattr(predlog.os, "write", short)
    _write(log, 3)
    monkeypatch.setattr(predlog.os, "write", lambda fd, data: real(fd, data[:1]))  # no progress: reported
    try:
        _write(log, 1)
        raise AssertionError("a write that makes no progress must fail")
    except LogWriteError as e:
        assert "short write" in str(e)
    monkeypatch.setattr(predlog.os, "write", real)
    log.close()
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert [set(json.loads(x)) == KEYS for x in lines[:3]] == [True] * 3  # finished short writes: whole lines


def test_retention_deletes_old_and_over_budget_rotated_files(tmp_path):
    import os
    import time

    for i, age_days in enumerate((40, 3, 2, 1)):  # rotated files, oldest first by name
        f = tmp_path / f"predictions-2026110{i}T000000000000Z.jsonl"
        f.write_bytes(b"x" * 3000 + b"\n")
        t = time.time() - age_days * 86400
        os.utime(f, (t, t))
    log = PredictionLog(tmp_path, max_bytes=1024, keep_bytes=9000, keep_days=30)
    _write(log, 20)  # > 1 KB (~4.5 KB): rotates, then prunes
    log.close()
    left = sorted(p.name for p in tmp_path.glob("predictions-*.jsonl"))
    names = [f"predictions-2026110{i}T000000000000Z.jsonl" for i in range(4)]
    assert names[0] not in left  # 40 days old
    assert names[1] not in left  # the oldest young one: over the 9,000-byte budget with the others
    assert names[3] in left and len(left) >= 2  # the newest old file and the new rotation stay
    assert sum((tmp_path / n).stat().st_size for n in left) <= 9000
    assert all(n > m for n in left for m in set(names) - set(left))  # oldest deleted first
