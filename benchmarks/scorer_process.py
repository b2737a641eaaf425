"""A `saferlhf serve` subprocess on loopback for the benchmarks (start, wait ready, stop, its workers) and two
stdlib HTTP calls that answer (status or None, seconds) instead of raising. Shared by bench_reliability.py."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench_serve import _free_port  # one free-port helper for the benchmarks

REPO = Path(__file__).resolve().parents[1]

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INFER = "/v2/models/saferlhf-reward/infer"


def start(model: str, flags: list[str], log_dir: Path, token: str | None = None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERLHF_")} | {"SAFERLHF_TRACKING": "0"}
    if token:
        env["SAFERLHF_API_TOKEN"] = token
    out = open(log_dir.parent / f"server-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "saferlhf.cli", "serve", "--model", model, "--port", str(port),
                             "--log-dir", str(log_dir), *flags], cwd=REPO, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server {flags} exited: {Path(out.name).read_text()[-2000:]}")
        if http_get(url, "/v2/health/ready")[0] == 200:
            return proc, url
        time.sleep(0.5)
    stop(proc)
    raise SystemExit(f"server {flags} did not become ready")


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def workers(pid: int) -> list[int]:
    """uvicorn's spawned worker processes under `pid` (not multiprocessing's resource tracker)."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line]


def http_get(url: str, path: str, headers: dict | None = None, timeout: float = 5) -> tuple[int | None, float]:
    import urllib.error
    import urllib.request

    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, headers=headers or {}), timeout=timeout) as r:
            return r.status, time.perf_counter() - t0
    except urllib.error.HTTPError as e:
        return e.code, time.perf_counter() - t0
    except OSError:
        return None, time.perf_counter() - t0


def http_post(url: str, path: str, body: bytes, headers: dict | None = None,
          timeout: float = 60) -> tuple[int | None, float]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url + path, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, time.perf_counter() - t0
    except urllib.error.HTTPError as e:
        return e.code, time.perf_counter() - t0
    except OSError:
        return None, time.perf_counter() - t0
