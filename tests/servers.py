"""Real servers in tests: wait until a subprocess answers on loopback, and stop it (and what it forked).

Shared by the scorer, MLflow, monitor and dashboard tests, so "started" and "stopped" mean the same everywhere."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest


def wait_ready(url: str, proc: subprocess.Popen, timeout: float, log: Path | None = None, what: str = "server",
               group: bool = False) -> None:
    """Poll `url` until it answers 200. If the process exits or `timeout` passes, stop it and fail the test with
    the tail of its log."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:  # refused, reset, timed out, or an HTTP error status (HTTPError is an OSError)
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            why = f"exited with {proc.returncode}" if proc.poll() is not None else f"no answer in {timeout:.0f} s"
            stop(proc, group=group)
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.is_file() else ""
            pytest.fail(f"{what} did not start ({why}) at {url}: {tail}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen, timeout: float = 30, group: bool = False) -> None:
    """SIGTERM (a graceful shutdown: the scorer flushes its log), then SIGKILL after `timeout`. `group`: signal
    the process group too (start the server with start_new_session=True), for servers that fork workers."""
    if proc.poll() is not None:
        return
    send = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    with contextlib.suppress(ProcessLookupError):
        send(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            send(signal.SIGKILL)
        proc.wait()
    if group:  # forked workers may outlive their parent for a moment: kill what is left of the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
