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
