"""The prediction log the drift monitor reads: one JSON object per line in <log_dir>/predictions.jsonl.

Record (a contract with saferlhf.monitor): {"timestamp": ISO-8601 UTC, "model_version": str, "safety": f,
"toxicity": f, "hallucination_risk": f, "compliance": f, "reward": f, "prompt_length": int,
"response_length": int, "refusal": bool, "prompt"?: str, "response"?: str} (text only when configured).

Each record is one os.write of one whole line to an O_APPEND descriptor, so records from concurrent writers
(threads or server processes) never interleave and a crash loses at most the record being written. When the
file passes max_bytes it is renamed to predictions-<timestamp>.jsonl (under an flock, so only one process
rotates) and a fresh file is opened. Before each write the path's inode is compared with the open descriptor's,
so a writer follows a rotation by another process, a rename or a delete at once (not up to a second later, when
its records would land in the old inode and be lost). Rotated files are pruned by total size and age.

Faults: a failed or short write (disk full, I/O error) raises `LogWriteError` and marks the log unavailable for
`RETRY_SECONDS`; the service then answers 503 and reports not-ready, so traffic moves to a healthy replica."""

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
FOLLOW_SECONDS = 1.0  # how often a writer re-reads the open file's size (another process may have appended)
RETRY_SECONDS = 5.0  # after a write error: unavailable this long, then the next request tries again
ROTATED_GLOB = "predictions-*.jsonl"


class LogWriteError(RuntimeError):
    """A record could not be appended (the message names the file and the OS error)."""


class PredictionLog:
    def __init__(self, log_dir: str | Path, max_bytes: int = 50_000_000, raw_text: bool = False,
                 keep_bytes: int = 2_000_000_000, keep_days: float = 30.0):
        self.dir = Path(log_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / LOG_FILE
        self.max_bytes = max_bytes
        self.raw_text = raw_text
        self.keep_bytes, self.keep_seconds = keep_bytes, keep_days * 86400
        self.records = 0
        self.write_errors = 0
        self.error: str | None = None  # the last write error, until a write succeeds again
        self._failed_at = float("-inf")
        self._lock = threading.Lock()
        self._fd = -1
        self._reopen()
        self._checked = time.monotonic()

    @property
    def available(self) -> bool:
        """False for RETRY_SECONDS after a write error (readiness reads this; requests fail fast meanwhile)."""
        return time.monotonic() - self._failed_at >= RETRY_SECONDS

    def write(self, prompts: list[str], responses: list[str], scores: np.ndarray, rewards: np.ndarray,
              model_version: str) -> None:
        """Append one record per item; scores (N, 4) in SIGNALS order, rewards (N,)."""
        ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines = []
        for p, r, s, rw in zip(prompts, responses, scores.tolist(), rewards.tolist()):
            rec = {"timestamp": ts, "model_version": model_version, **dict(zip(SIGNALS, s)), "reward": rw,
                   "prompt_length": len(p), "response_length": len(r), "refusal": is_refusal(r)}
            if self.raw_text:
                rec |= {"prompt": p, "response": r}
            lines.append((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
        with self._lock:
            try:
                self._follow()
                for line in lines:
                    self._append(line)
                # another process may rotate the shared file: look at it on size or at least every FOLLOW_SECONDS
                if self._size >= self.max_bytes or time.monotonic() - self._checked >= FOLLOW_SECONDS:
                    self._maybe_rotate()
            except OSError as e:
                self.write_errors += 1
                self.error, self._failed_at = f"{self.path}: {e.strerror or e}", time.monotonic()
                log.error("prediction log write failed: %s", self.error)
                raise LogWriteError(f"prediction log {self.error}") from e
            self.error = None

    def _append(self, line: bytes) -> None:
        """One write per record (whole lines, never interleaved). A short write (disk nearly full) is finished
        with a second write, whose failure (ENOSPC) leaves one cut line; the monitor skips such lines."""
        done = os.write(self._fd, line)
        if done < len(line):
            done += os.write(self._fd, line[done:])
            if done < len(line):
                raise OSError(28, f"short write ({done} of {len(line)} bytes)")
        self._size += len(line)
        self.records += 1

    def _follow(self) -> None:
        """Reopen when the path no longer names the open file (rotated, renamed or deleted): one stat."""
        try:
            if os.stat(self.path).st_ino == self._ino:
                return
        except FileNotFoundError:
            pass
        self._reopen()

    def _maybe_rotate(self) -> None:
        self._checked = time.monotonic()
        st = os.fstat(self._fd)
        self._size = st.st_size
        if st.st_size < self.max_bytes:
            return
        with open(self.dir / ".rotate.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cur = os.stat(self.path)
            if cur.st_ino == st.st_ino and cur.st_size >= self.max_bytes:  # nobody beat us to it
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
                os.replace(self.path, self.dir / f"predictions-{stamp}.jsonl")
                log.info("rotated the prediction log to predictions-%s.jsonl", stamp)
                self._prune()
            self._reopen()

    def _prune(self) -> None:
        """Delete rotated files older than keep_days, then the oldest while they total more than keep_bytes."""
        now = time.time()
        files = sorted(((p.stat(), p) for p in self.dir.glob(ROTATED_GLOB)), key=lambda sp: sp[1].name)
        total = sum(st.st_size for st, _ in files)
        for st, p in files:  # oldest first (the name holds the rotation time)
            if now - st.st_mtime <= self.keep_seconds and total <= self.keep_bytes:
                break
            p.unlink(missing_ok=True)
            total -= st.st_size
            log.info("retention: deleted %s", p.name)

    def _reopen(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        st = os.fstat(fd)
        self._ino, self._size = st.st_ino, st.st_size

    def close(self) -> None:
        """Flush to disk and close (graceful shutdown)."""
        with self._lock:
            if self._fd >= 0:
                try:
                    os.fsync(self._fd)
                except OSError as e:  # a full disk or a device that cannot sync must not block shutdown
                    log.error("prediction log: fsync of %s failed: %s", self.path, e)
                os.close(self._fd)
                self._fd = -1
