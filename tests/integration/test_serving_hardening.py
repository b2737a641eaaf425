"""The scorer under hostile traffic and faults, as deployed (`saferlhf serve` subprocesses on loopback):
auth before the body, chunked uploads over the cap, oversized headers, slow connections, a full log disk."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time

import httpx
import pytest

from tests.integration.test_serving import INFER, PAIRS, _infer_body, _v1, run_scorer, server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _chunked_upload(url: str, path: str, total: int, headers: dict[str, str] | None = None) -> tuple[int, int]:
    """POST `total` bytes of a JSON-looking body with Transfer-Encoding: chunked over a raw socket, reading the
    answer as soon as it comes; (status, bytes sent when the answer arrived)."""
    sock = _connect(url)
    # a small send buffer: "sent" then counts bytes the server's side took, not the ~4 MB this kernel's send-buffer
    # auto-tuning (tcp_wmem max) would otherwise accept on the client's side alone (5.18 MB seen in CI)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n{head}"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    answer, sent, sent_when_answered = bytearray(), [0], [None]
    got = threading.Event()

    def reader():
        with contextlib.suppress(OSError):  # a reset after the answer
            while (data := sock.recv(65536)):
                if not answer:
                    sent_when_answered[0] = sent[0]
                answer.extend(data)
                got.set()
        got.set()

    # the reader must get the GIL soon after the answer lands, else the sender runs on for megabytes meanwhile
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    threading.Thread(target=reader, daemon=True).start()
    chunk = b'{"items": [{"prompt": "'  # then one endless string: only the byte cap can stop it
    with contextlib.suppress(OSError):  # the server may close mid-upload: that is the point
        while sent[0] < total and not got.is_set():
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent[0] += len(chunk)
            chunk = b"x" * 65536
        got.wait(30)
    sys.setswitchinterval(switch)
    sock.close()
    assert answer, "no answer from the server"
    # the server discards what still comes after its answer (lingering close): count up to the answer only
    return int(answer.split(b" ", 2)[1]), sent_when_answered[0]


def _partial_upload(url: str, path: str, nbytes: int, headers: dict[str, str] | None = None) -> int:
    """Send the headers of a chunked POST and `nbytes` of its body, never its end, then wait for the answer: only a
    server that answers before reading the whole body can answer at all. Returns the status."""
    sock = _connect(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n{head}"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk = b"x" * 65536
    with contextlib.suppress(OSError):
        for _ in range(max(1, nbytes // len(chunk))):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    sock.settimeout(15)
    try:
        answer = sock.recv(65536)
    finally:
        sock.close()
    assert answer, "no answer from the server"
    return int(answer.split(b" ", 2)[1])


def test_chunked_upload_over_the_cap_is_413_without_reading_it_all(server):
    status, sent = _chunked_upload(server[0], "/v1/score", 50_000_000)
    assert status == 413
    assert sent < 5_000_000  # answered near the ~0.45 MB cap, not after 50 MB
    assert httpx.get(f"{server[0]}/v2/health/ready").status_code == 200


def test_auth_is_checked_before_the_body_is_read(tiny_onnx_bundle, tmp_path):
    with run_scorer(tiny_onnx_bundle, tmp_path / "p", token="s3cret") as (url, _):
        # before the body: an unauthenticated upload that never ends is answered (a server that read the body
        # first would wait for its end); 1 MB is in the socket buffers before the server reads any of it
        assert _partial_upload(url, "/v1/score", 1_000_000) == 401
        for _ in range(10):  # a plain close after the answer resets the upload and loses the 401 (13/40 seen)
            status, sent = _chunked_upload(url, "/v1/score", 50_000_000)
            # answered long before the 50 MB were sent (how far the client got depends on when its reader thread
            # runs: 0-3.5 MB idle, 5.9 MB once in a CI run, so the bound only says "not the whole body")
            assert status == 401 and sent < 25_000_000
        ok = {"Authorization": "Bearer s3cret"}
        status, sent = _chunked_upload(url, "/v1/score", 50_000_000, ok)
        assert status == 413 and sent < 30_000_000  # past auth, stopped at the default ~12 MB cap
        for path in ("/v2", "/v2/models/saferlhf-reward", "/metrics", "/openapi.json"):
            assert httpx.get(url + path).status_code == 401, path  # metadata and metrics need the token
            assert httpx.get(url + path, headers=ok).status_code == 200, path
        assert httpx.get(f"{url}/v2/health/live").status_code == 200  # probes stay open


def _status_of(sock: socket.socket, timeout: float) -> tuple[int | None, float]:
    """(status of the server's answer or None when it closed without one, seconds until answered/closed)."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    try:
        data = sock.recv(4096)
    except (TimeoutError, ConnectionResetError):
        data = b""
    took = time.monotonic() - t0
    return (int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None), took


def test_oversized_header_is_431_and_slow_connections_are_closed(tiny_onnx_bundle, tmp_path):
    with run_scorer(tiny_onnx_bundle, tmp_path / "p", "--read-timeout-s", "2") as (url, _):
        big = _connect(url)
        with contextlib.suppress(OSError):
            big.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000)
        status, _ = _status_of(big, 10)
        assert status == 431
        slow = [_connect(url) for _ in range(50)]  # unfinished headers / stalled bodies
        for i, s in enumerate(slow):
            s.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\n" if i % 2 else
                      b"POST /v1/score HTTP/1.1\r\nHost: x\r\ncontent-length: 100\r\n\r\n{\"it")
        assert httpx.post(f"{url}/v1/score", json=_v1(PAIRS[:1])).status_code == 200  # still served meanwhile
        t0 = time.monotonic()
        answers = [_status_of(s, 10) for s in slow]
        assert all(status in (408, None) for status, _ in answers)
        assert time.monotonic() - t0 < 6  # closed by the 2 s read deadline, not left open
        for s in (big, *slow):
            s.close()


def test_full_log_disk_is_503_and_not_ready_never_500(tiny_onnx_bundle, tmp_path):
    log_dir = tmp_path / "p"
    log_dir.mkdir()
    with run_scorer(tiny_onnx_bundle, log_dir) as (url, _):
        assert httpx.post(f"{url}/v1/score", json=_v1(PAIRS[:1])).status_code == 200
        (log_dir / "predictions.jsonl").rename(log_dir / "before.jsonl")
        (log_dir / "predictions.jsonl").symlink_to("/dev/full")  # the writer follows the path: ENOSPC
        r = httpx.post(f"{url}/v1/score", json=_v1(PAIRS[:2]))
        assert r.status_code == 503 and "prediction log" in r.json()["error"] and r.headers["retry-after"]
        ready = httpx.get(f"{url}/v2/health/ready")
        assert ready.status_code == 503 and "prediction log" in ready.json()["error"]
        codes = [httpx.post(url + INFER, json=_infer_body(PAIRS[:1])).status_code for _ in range(5)]
        assert codes == [503] * 5  # failing fast, before scoring
        metrics = httpx.get(f"{url}/metrics").text
        assert "saferlhf_log_dropped_records_total 2.0" in metrics
        (log_dir / "predictions.jsonl").unlink()  # space again
        deadline = time.monotonic() + 15
        while httpx.get(f"{url}/v2/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "readiness did not come back after the disk recovered"
            time.sleep(0.5)
        assert httpx.post(f"{url}/v1/score", json=_v1(PAIRS[:1])).status_code == 200
    assert len((log_dir / "before.jsonl").read_text().splitlines()) == 1
    assert len((log_dir / "predictions.jsonl").read_text().splitlines()) == 1  # answered == logged
