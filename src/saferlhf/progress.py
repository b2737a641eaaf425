"""Progress of long loops (training steps, generation batches) that a person sees wherever the work runs.

On a terminal: a tqdm bar. Elsewhere (a KFP step's log, a Kubernetes pod, CI) tqdm's bar is either disabled or a
stream of carriage returns; there, one `logging` line per ~10% of the work instead, with the elapsed time and an
estimate of what is left:

    policy LM: 12/44 steps (27%), 2 min 10 s elapsed, ~5 min 47 s left
"""

from __future__ import annotations

import logging
import math
import sys
import time

from tqdm.auto import tqdm

log = logging.getLogger("saferlhf.progress")


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


class LogProgress:
    """tqdm's `update`/`set_postfix`/`close` surface, written as a log line each time another `every` of `total`
    is done (and at the end)."""

    def __init__(self, total: int, desc: str, unit: str = "steps", every: float = 0.1):
        self.total, self.desc, self.unit = max(int(total), 0), desc, unit
        self.n, self._next, self._step = 0, 0, max(1, math.ceil(self.total * every))
        self._t0 = time.monotonic()
        self._postfix = ""

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n >= self._next + self._step or self.n == self.total:
            self._next = self.n - self.n % self._step
            self._write()

    def set_postfix(self, **kv) -> None:
        self._postfix = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in kv.items())

    def _write(self) -> None:
        took = time.monotonic() - self._t0
        pct = 100 * self.n / self.total if self.total else 100.0
        left = took / self.n * (self.total - self.n) if self.n else float("nan")
        tail = f", ~{_mmss(left)} left" if self.n < self.total and left == left else ""
        extra = f" [{self._postfix}]" if self._postfix else ""
        log.info("%s: %d/%d %s (%.0f%%), %s elapsed%s%s", self.desc, self.n, self.total, self.unit, pct,
                 _mmss(took), tail, extra)

    def close(self) -> None:
        pass


def progress(total: int, desc: str, unit: str = "steps"):
    """A bar on a terminal, log lines elsewhere; use as `bar.update(1)` ... `bar.close()`."""
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=f" {unit}", leave=False, mininterval=1)
    return LogProgress(total, desc, unit)
