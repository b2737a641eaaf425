"""Scorer reliability under hostile traffic and faults: `make bench-reliability` -> outputs/bench/reliability.json.

Everything runs against real `saferlhf serve` processes on loopback:
  soak      N requests at C concurrency, two workers, log rotation every few hundred KB: errors, log records,
            broken lines; then again with `kill -9` of one worker mid-run (answered vs logged, worker replaced)
  attacks   each with status code, seconds to answer, and the server's peak-RSS growth (VmHWM after - before):
            120 MB chunked body without / with the token, a 440k-item body, four of those in parallel while a
            prober hits /v2/health/live, 300 slow-header connections, a 20 MB header, bad V2 input classes
  disk-full the prediction log on /dev/full: status codes of scoring requests and of readiness
  monitor   `saferlhf monitor --window 24h` over 1,000,000 records in ten daily files: its peak RSS, and the
            same verdict as on the last day's file alone
Timings on a shared machine are only comparable within one run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_monitor import monitor_long_log  # noqa: E402
from scorer_process import AUTH, INFER, TOKEN, http_get, http_post, start, stop, workers  # noqa: E402

# ---------------------------------------------------------------- soak
async def _soak_load(url: str, bodies: list[bytes], requests: int, concurrency: int, on_half=None) -> dict:
    """Closed loop over raw keep-alive connections; a connection the server drops is counted and reopened."""
    host, port = url.removeprefix("http://").split(":")
    codes: dict[str, int] = {}
    jobs = iter(range(requests))
    half = asyncio.Event()

    async def client():
        reader = writer = None
        for i in jobs:
            if i == requests // 2 and on_half is not None:
                half.set()
            body = bodies[i % len(bodies)]
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"POST /v1/score HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                head = await reader.readuntil(b"\r\n\r\n")
                n = int(next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")))
                await reader.readexactly(n)
                key = head.split(b" ", 2)[1].decode()
            except (OSError, asyncio.IncompleteReadError):
                key, writer = "dropped", None
            codes[key] = codes.get(key, 0) + 1

    async def killer():
        await half.wait()
        on_half()

    tasks = [asyncio.create_task(client()) for _ in range(concurrency)]
    k = asyncio.create_task(killer()) if on_half else None
    t0 = time.perf_counter()
    await asyncio.gather(*tasks)
    if k is not None:
        k.cancel()
    return {"codes": codes, "seconds": round(time.perf_counter() - t0, 2)}


def _records(log_dir: Path) -> tuple[int, int]:
    """(whole JSON records, broken lines) over predictions.jsonl and its rotated files."""
    good = broken = 0
    for f in log_dir.glob("predictions*.jsonl"):
        for line in f.read_bytes().splitlines():
            try:
                json.loads(line)
                good += 1
            except ValueError:
                broken += 1
    return good, broken


def soak(model: str, tmp: Path, requests: int, concurrency: int, kill: bool) -> dict:
    log_dir = tmp / ("soak-kill" if kill else "soak")
    proc, url = start(model, ["--workers", "2", "--log-max-bytes", "300000", "--threads", "1"], log_dir)
    bodies = [json.dumps({"items": [{"prompt": f"question {i}?", "response": f"answer {i}."}]}).encode()
              for i in range(64)]
    before = workers(proc.pid)
    killed: list[int] = []

    def kill_one():
        killed.append(before[0])
        os.kill(before[0], signal.SIGKILL)

    try:
        res = asyncio.run(_soak_load(url, bodies, requests, concurrency, kill_one if kill else None))
        time.sleep(1.0)
        after = workers(proc.pid)
    finally:
        stop(proc)  # graceful: flushes the logs
    good, broken = _records(log_dir)
    answered = res["codes"].get("200", 0)
    out = {**res, "requests": requests, "concurrency": concurrency, "workers": 2, "answered_200": answered,
           "log_records": good, "broken_lines": broken, "rotated_files": len(list(log_dir.glob("predictions-*")))}
    if kill:
        out |= {"killed_worker": killed[0] if killed else None, "workers_after": len(after),
                "worker_replaced": bool(killed) and killed[0] not in after and len(after) == 2,
                "every_answered_request_logged": good >= answered}
    return out


# ---------------------------------------------------------------- attacks
def upload(url: str, body: bytes | None, headers: dict | None = None, chunked_total: int = 0) -> dict:
    """POST over a raw socket, reading the answer while still sending (a server that answers early and closes
    breaks an ordinary client's send): `body` with Content-Length, or `chunked_total` bytes of one endless JSON
    string in 64 KB chunks. Status, seconds until answered, MB sent by then."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    framing = "Transfer-Encoding: chunked" if body is None else f"Content-Length: {len(body)}"
    sock.sendall(f"POST /v1/score HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n{head}{framing}"
                 "\r\n\r\n".encode())
    answer, got = bytearray(), threading.Event()

    def reader():
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                answer.extend(data)
                got.set()
        got.set()

    threading.Thread(target=reader, daemon=True).start()
    sent, t0 = 0, time.perf_counter()
    with contextlib.suppress(OSError):
        if body is None:
            chunk = b'{"items": [{"prompt": "'  # then one endless string: only the byte cap can stop it
            while sent < chunked_total and not got.is_set():
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                chunk = b"x" * 65536
        else:
            for i in range(0, len(body), 65536):
                if got.is_set():
                    break
                sock.sendall(body[i:i + 65536])
                sent = i + 65536
    got.wait(60)
    took = time.perf_counter() - t0
    sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
    return {"status": status, "seconds": round(took, 3), "mb_sent_before_answer": round(sent / 1e6, 1)}


def chunked(url: str, total: int, headers: dict | None = None) -> dict:
    return upload(url, None, headers, chunked_total=total)


def _rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(next(x.split()[1] for x in text.splitlines() if x.startswith("VmRSS"))) / 1024


def measured(pid: int, fn, *args) -> dict:
    """fn(*args) while sampling the server's RSS every 5 ms: growth of its peak over the RSS before."""
    before, peak, done = _rss_mb(pid), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb(pid))
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    try:
        out = fn(*args)
    finally:
        done.set()
        t.join()
    return {**out, "rss_before_mb": round(before, 1), "peak_rss_growth_mb": round(max(peak[0] - before, 0.0), 1)}


def many_items_body(n: int = 440_000) -> bytes:
    return b'{"items": [' + b",".join([b'{"prompt":"","response":""}'] * n) + b"]}"


def parallel_with_prober(url: str, n: int = 4) -> dict:
    body, probes, stop_probe = many_items_body(), [], threading.Event()

    def prober():
        while not stop_probe.is_set():
            probes.append(http_get(url, "/v2/health/live", timeout=10)[1])
            time.sleep(0.02)

    t = threading.Thread(target=prober)
    t.start()
    results: list = [None] * n
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, upload(url, body, AUTH)))
               for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stop_probe.set()
    t.join()
    return {"statuses": [r["status"] for r in results], "max_seconds": round(max(r["seconds"] for r in results), 3),
            "probes": len(probes), "max_probe_seconds": round(max(probes), 3)}


def slow_connections(url: str, n: int, timeout_s: float) -> dict:
    host, port = url.removeprefix("http://").split(":")
    socks = []
    for i in range(n):
        s = socket.create_connection((host, int(port)), timeout=timeout_s * 3)
        s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: b\r\n" if i % 2 else
                  b'POST /v1/score HTTP/1.1\r\nHost: b\r\ncontent-length: 1000\r\n\r\n{"it')
        socks.append(s)
    t0 = time.perf_counter()
    normal = http_post(url, "/v1/score", json.dumps({"items": [{"prompt": "hi", "response": "hello"}]}).encode(), AUTH)
    closed = []
    for s in socks:
        with contextlib.suppress(OSError):
            s.recv(4096)  # returns on the server's 408 / close
        closed.append(time.perf_counter() - t0)
        s.close()
    return {"connections": n, "stated_timeout_s": timeout_s, "all_closed_after_s": round(max(closed), 2),
            "normal_request_status": normal[0], "normal_request_seconds": round(normal[1], 3)}


def big_header(url: str, size: int = 20_000_000) -> dict:
    host, port = url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    t0 = time.perf_counter()
    with contextlib.suppress(OSError):
        s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: b\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
    try:
        data = s.recv(4096)
    except OSError:
        data = b""
    s.close()
    return {"status": int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else "closed",
            "seconds": round(time.perf_counter() - t0, 3)}


BAD_V2 = {
    "deep nesting 600": b'{"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": '
                        + b"[" * 600 + b'"a"' + b"]" * 600 + b"}]}",
    "deep nesting 3000": b'{"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": '
                         + b"[" * 3000 + b'"a"' + b"]" * 3000 + b"}]}",
    "surrogate id": b'{"id": "\\ud800", "inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": '
                    b'["a"]}, {"name": "response", "shape": [1], "datatype": "BYTES", "data": ["b"]}]}',
    "NaN data": b'{"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": [NaN]}, '
                b'{"name": "response", "shape": [1], "datatype": "BYTES", "data": ["b"]}]}',
    "shape [1] with [[[s]]]": b'{"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": '
                              b'[[["a"]]]}, {"name": "response", "shape": [1], "datatype": "BYTES", "data": ["b"]}]}',
    "shape/data count": b'{"inputs": [{"name": "prompt", "shape": [3], "datatype": "BYTES", "data": ["a"]}, '
                        b'{"name": "response", "shape": [1], "datatype": "BYTES", "data": ["b"]}]}',
}


def attacks(model: str, tmp: Path, slow_n: int, read_timeout: float) -> dict:
    proc, url = start(model, ["--threads", "1", "--read-timeout-s", str(read_timeout)], tmp / "attack-log",
                      token=TOKEN)
    pid = proc.pid
    try:
        out = {
            "chunked_120mb_no_token": measured(pid, chunked, url, 120_000_000),
            "chunked_120mb_with_token": measured(pid, chunked, url, 120_000_000, AUTH),
            "items_440k": measured(pid, upload, url, many_items_body(), AUTH),
            "items_440k_x4_with_prober": measured(pid, parallel_with_prober, url),
            "slow_header_connections": measured(pid, slow_connections, url, slow_n, read_timeout),
            "header_20mb": measured(pid, big_header, url),
            "bad_v2_input": {k: http_post(url, INFER, b, AUTH)[0] for k, b in BAD_V2.items()},
            "server_ready_after": http_get(url, "/v2/health/ready")[0],
        }
    finally:
        stop(proc)
    return out


def disk_full(model: str, tmp: Path) -> dict:
    log_dir = tmp / "full-log"
    log_dir.mkdir(parents=True)
    (log_dir / "predictions.jsonl").symlink_to("/dev/full")
    proc, url = start(model, ["--threads", "1"], log_dir)  # ready at start: nothing was written yet
    body = json.dumps({"items": [{"prompt": "hi", "response": "hello"}]}).encode()
    try:
        codes = [http_post(url, "/v1/score", body)[0] for _ in range(20)]
        ready = http_get(url, "/v2/health/ready")[0]
    finally:
        stop(proc)
    return {"scoring_statuses": {str(c): codes.count(c) for c in set(codes)}, "readiness_status": ready,
            "scoring_5xx_other_than_503": sum(1 for c in codes if c is None or (c >= 500 and c != 503))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="outputs/models/reward_model/onnx", help="ONNX bundle to serve")
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--slow-connections", type=int, default=300)
    ap.add_argument("--read-timeout-s", type=float, default=5.0, help="the scorer's --read-timeout-s in the attacks")
    ap.add_argument("--monitor-records", type=int, default=1_000_000)
    ap.add_argument("--only", default="soak,kill,attacks,disk_full,monitor")
    ap.add_argument("--out", default="outputs/bench/reliability.json")
    args = ap.parse_args()
    parts = set(args.only.split(","))
    res: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
                 "cpus": os.cpu_count(), "model": args.model, "command": " ".join(sys.argv)}
    with tempfile.TemporaryDirectory(prefix="bench-rel-") as d:
        tmp = Path(d)
        steps = [("soak", lambda: soak(args.model, tmp, args.requests, args.concurrency, kill=False)),
                 ("kill", lambda: soak(args.model, tmp, args.requests, args.concurrency, kill=True)),
                 ("attacks", lambda: attacks(args.model, tmp, args.slow_connections, args.read_timeout_s)),
                 ("disk_full", lambda: disk_full(args.model, tmp)),
                 ("monitor", lambda: monitor_long_log(args.model, tmp, args.monitor_records))]
        for name, fn in steps:
            if name in parts:
                t0 = time.perf_counter()
                print(f"[{name}] ...", flush=True)
                res[name] = fn()
                print(f"[{name}] done in {time.perf_counter() - t0:.0f} s: {json.dumps(res[name])[:300]}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(res, indent=2))
    tmp_out.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
