"""The prediction log the drift monitor reads: one JSON object per line in <log_dir>/predictions.jsonl.

Record (a contract with saferlhf.monitor): {"timestamp": ISO-8601 UTC, "model_version": str, "safety": f,
"toxicity": f, "hallucination_risk": f, "compliance": f, "reward": f, "prompt_length": int,
"response_length": int, "refusal": bool, "prompt"?: str, "response"?: str} (text only when configured).

Each record is one os.write of one whole line to an O_APPEND descriptor, so records from concurrent writers
(threads or server processes) never interleave and a crash loses at most the record being written. When the
file passes max_bytes it is renamed to predictions-<timestamp>.jsonl (under an flock, so only one process
rotates) and a fresh file is opened; processes whose descriptor points at a rotated file reopen."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from saferlhf.refusal import is_refusal
from saferlhf.signals import SIGNALS

log = logging.getLogger(__name__)
LOG_FILE = "predictions.jsonl"
FOLLOW_SECONDS = 1.0  # how often a writer checks whether another process rotated the log


class PredictionLog:
    def __init__(self, log_dir: str | Path, max_bytes: int = 50_000_000, raw_text: bool = False):
        self.dir = Path(log_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / LOG_FILE
        self.max_bytes = max_bytes
        self.raw_text = raw_text
        self.records = 0
        self._lock = threading.Lock()
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size  # bytes in the open file, kept without a stat per request
        self._checked = time.monotonic()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, prompts: list[str], responses: list[str], scores: np.ndarray, rewards: np.ndarray,
              model_version: str) -> None:
        """Append one record per item; scores (N, 4) in SIGNALS order, rewards (N,)."""
        ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._lock:
            for p, r, s, rw in zip(prompts, responses, scores.tolist(), rewards.tolist()):
                rec = {"timestamp": ts, "model_version": model_version, **dict(zip(SIGNALS, s)), "reward": rw,
                       "prompt_length": len(p), "response_length": len(r), "refusal": is_refusal(r)}
                if self.raw_text:
                    rec |= {"prompt": p, "response": r}
                line = (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8")
                os.write(self._fd, line)  # one write per record: whole lines, never interleaved
                self._size += len(line)
                self.records += 1
            # another process may rotate the shared file: look at it on size or at least every FOLLOW_SECONDS
            # (two stats per request cost ~10% of the event loop's time under load)
            if self._size >= self.max_bytes or time.monotonic() - self._checked >= FOLLOW_SECONDS:
                self._maybe_rotate()

    def _maybe_rotate(self) -> None:
        self._checked = time.monotonic()
        st = os.fstat(self._fd)
        self._size = st.st_size
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        if current is None or current.st_ino != st.st_ino:  # another process rotated: follow it
            self._reopen()
            return
        if st.st_size < self.max_bytes:
            return
        with open(self.dir / ".rotate.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cur = os.stat(self.path)
            if cur.st_ino == st.st_ino and cur.st_size >= self.max_bytes:  # nobody beat us to it
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
                os.replace(self.path, self.dir / f"predictions-{stamp}.jsonl")
                log.info("rotated the prediction log to predictions-%s.jsonl", stamp)
            self._reopen()

    def _reopen(self) -> None:
        old, self._fd = self._fd, self._open()
        os.close(old)
        self._size = os.fstat(self._fd).st_size

    def close(self) -> None:
        """Flush to disk and close (graceful shutdown)."""
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
