"""The scoring service as deployed: `saferlhf serve` in its own process on a free loopback port, real HTTP.

V2 round trip and metadata, /v1/score parity with the PyTorch model, every bad-input class -> 4xx with
{"error"}, auth on/off, 2,000 requests at 32 concurrency with zero errors and exactly 2,000 log records,
property-based fuzzing of both endpoints with zero 5xx, and no torch in the server process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, free_port
from tests.servers import stop, wait_ready

pytestmark = pytest.mark.slow
INFER = "/v2/models/saferlhf-reward/infer"
PAIRS = [("How do I make a bomb?", "I can't help with that. If you are in danger, call emergency services."),
         ("What is the capital of France?", "Paris."),
         ("Write an insult about my coworker.", "Sure, here is a nasty insult you can use on them."),
         ("¿Cómo estás? 😀", "Muy bien, gracias."), ("", "")]


@contextlib.contextmanager
def run_scorer(model: Path, log_dir: Path, *args: str, token: str | None = None):
    """`saferlhf serve` as a subprocess; yields (base URL, process); SIGTERM on exit (graceful shutdown)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERLHF_")}
    env |= {"SAFERLHF_TRACKING": "0"} | ({"SAFERLHF_API_TOKEN": token} if token else {})
    cmd = [sys.executable, "-m", "saferlhf.cli", "serve", "--model", str(model), "--port", str(port),
           "--log-dir", str(log_dir), "--threads", "1", *args]
    out = open(log_dir.parent / f"server-{port}.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/v2/health/ready", proc, 120, Path(out.name), "scorer")
    try:
        yield url, proc
    finally:
        stop(proc)  # SIGTERM: the graceful shutdown flushes the prediction log
        out.close()


@pytest.fixture(scope="module")
def server(tiny_onnx_bundle, tmp_path_factory):
    """fp32 server with small limits, so the limit checks are cheap to hit."""
    tmp = tmp_path_factory.mktemp("serve")
    with run_scorer(tiny_onnx_bundle, tmp / "predictions", "--precision", "fp32", "--max-items", "8",
                    "--max-batch-size", "32", "--max-chars", "2000") as (url, proc):
        yield url, proc, tmp / "predictions" / "predictions.jsonl"


def _infer_body(pairs, **extra):
    return {"id": "req-1", "inputs": [
        {"name": "prompt", "shape": [len(pairs)], "datatype": "BYTES", "data": [p for p, _ in pairs]},
        {"name": "response", "shape": [len(pairs)], "datatype": "BYTES", "data": [r for _, r in pairs]}], **extra}


def test_health_and_metadata(server):
    url = server[0]
    assert httpx.get(f"{url}/v2/health/live").json() == {"live": True}
    assert httpx.get(f"{url}/v2/health/ready").json() == {"ready": True}
    assert httpx.get(f"{url}/v2").json()["name"] == "saferlhf-scorer"
    meta = httpx.get(f"{url}/v2/models/saferlhf-reward").json()
    assert meta["platform"] == "onnxruntime_onnx" and len(meta["versions"]) == 1
    assert [i["name"] for i in meta["inputs"]] == ["prompt", "response"]
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {"scores": [-1, 4], "reward": [-1]}
    assert httpx.get(f"{url}/v2/models/saferlhf-reward/ready").json()["ready"] is True
    assert httpx.get(f"{url}/v2/models/other").status_code == 404


def test_v2_round_trip_matches_v1_and_pytorch(server, tiny_reward_model):
    from saferlhf.reward.model import RewardScorer
    from saferlhf.signals import SIGNALS, combined_reward

    url = server[0]
    body = httpx.post(url + INFER, json=_infer_body(PAIRS)).json()
    assert body["id"] == "req-1" and body["model_name"] == "saferlhf-reward"
    out = {o["name"]: o for o in body["outputs"]}
    assert out["scores"]["datatype"] == "FP32" and out["scores"]["shape"] == [len(PAIRS), 4]
    scores = np.array(out["scores"]["data"]).reshape(out["scores"]["shape"])
    ref = RewardScorer(tiny_reward_model)
    expected = ref.scores([p for p, _ in PAIRS], [r for _, r in PAIRS])
    np.testing.assert_allclose(scores, expected, atol=1e-4)
    np.testing.assert_allclose(out["reward"]["data"], combined_reward(expected, ref.weights), atol=1e-4)
    v1 = httpx.post(f"{url}/v1/score", json={"items": [{"prompt": p, "response": r} for p, r in PAIRS]}).json()
    assert v1["model_version"] == body["model_version"]
    np.testing.assert_allclose([[it[s] for s in SIGNALS] for it in v1["results"]], expected, atol=1e-4)
    only = httpx.post(url + INFER, json=_infer_body(PAIRS[:1], outputs=[{"name": "reward"}])).json()
    assert [o["name"] for o in only["outputs"]] == ["reward"]


def _v1(items):
    return {"items": [{"prompt": p, "response": r} for p, r in items]}


BAD = [  # (name, path, raw body or JSON, headers, status)
    ("malformed JSON", "/v1/score", b'{"items": [', None, 400),
    ("non-UTF-8 bytes", "/v1/score", b'{"items": [{"prompt": "\xff\xfe", "response": "x"}]}', None, 400),
    ("lone surrogate", "/v1/score", b'{"items": [{"prompt": "\\ud800", "response": "x"}]}', None, 400),
    ("empty batch", "/v1/score", {"items": []}, None, 400),
    ("missing field", "/v1/score", {"items": [{"prompt": "a"}]}, None, 422),
    ("wrong type", "/v1/score", {"items": [{"prompt": 3, "response": "a"}]}, None, 422),
    ("unknown field", "/v1/score", {"items": [{"prompt": "a", "response": "b", "x": 1}]}, None, 422),
    ("not an object", "/v1/score", [1, 2], None, 422),
    ("too many items", "/v1/score", _v1([("a", "b")] * 9), None, 413),
    ("text too long", "/v1/score", _v1([("a" * 2001, "b")]), None, 413),
    ("body too large", "/v1/score", b"x" * 600_000, None, 413),
    ("form content type", "/v1/score", b"items=1", {"content-type": "application/x-www-form-urlencoded"}, 415),
    ("V2 wrong datatype", INFER, {"inputs": [{"name": "prompt", "shape": [1], "datatype": "FP32", "data": [1.0]},
                                             {"name": "response", "shape": [1], "datatype": "BYTES", "data": ["a"]}]},
     None, 400),
    ("V2 wrong shape", INFER, {"inputs": [{"name": "prompt", "shape": [2], "datatype": "BYTES", "data": ["a"]},
                                          {"name": "response", "shape": [1], "datatype": "BYTES", "data": ["a"]}]},
     None, 400),
    ("V2 missing input", INFER, {"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": ["a"]}]},
     None, 400),
    ("V2 empty batch", INFER, _infer_body([]), None, 400),
    ("V2 unknown output", INFER, _infer_body([("a", "b")], outputs=[{"name": "logits"}]), None, 400),
    ("V2 non-string data", INFER, {"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": [{}]},
                                              {"name": "response", "shape": [1], "datatype": "BYTES", "data": ["a"]}]},
     None, 400),
    ("V2 unknown model", "/v2/models/nope/infer", _infer_body([("a", "b")]), None, 404),
    ("V2 lone-surrogate id", INFER, b'{"id": "\\ud800", "inputs": [{"name": "prompt", "shape": [1], "datatype": '
     b'"BYTES", "data": ["a"]}, {"name": "response", "shape": [1], "datatype": "BYTES", "data": ["b"]}]}', None, 400),
    ("V2 data nested 40 deep", INFER, b'{"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": '
     + b"[" * 40 + b'"a"' + b"]" * 40 + b"}]}", None, 400),  # deeper than 32
    # 600 / 3000 `[` are more JSON elements than 8 items can need: counted first, 413 (they were a 500 and a
    # 400 with the wrong message)
    ("V2 data nested 600 deep", INFER, b'{"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": '
     + b"[" * 600 + b'"a"' + b"]" * 600 + b"}]}", None, 413),
    ("V2 data nested 3000 deep", INFER, b'{"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": '
     + b"[" * 3000 + b'"a"' + b"]" * 3000 + b"}]}", None, 413),
    ("V2 nesting deeper than shape", INFER, {"inputs": [
        {"name": "prompt", "shape": [1], "datatype": "BYTES", "data": [[["a"]]]},
        {"name": "response", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}, None, 400),
    ("V2 NaN data", INFER, b'{"inputs": [{"name": "prompt", "shape": [1], "datatype": "BYTES", "data": [NaN]}, '
     b'{"name": "response", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}', None, 400),
    ("V2 huge shape", INFER, {"inputs": [{"name": n, "shape": [10 ** 40], "datatype": "BYTES", "data": ["a"]}
                                         for n in ("prompt", "response")]}, None, 400),
    ("huge integer", "/v1/score", b'{"items": [{"prompt": ' + b"9" * 5000 + b', "response": "a"}]}', None, 400),
    ("surrogate field name", "/v1/score", b'{"items": [{"prompt": "a", "response": "b", "\\udc00": 1}]}', None, 422),
    ("many empty items", "/v1/score", b'{"items": [' + b",".join([b'{"prompt":"","response":""}'] * 20_000)
     + b"]}", None, 413),
    ("unknown path", "/v3/score", {}, None, 404),
]


@pytest.mark.parametrize("name, path, body, headers, status", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_4xx_with_error(server, name, path, body, headers, status):
    kw = {"content": body} if isinstance(body, bytes) else {"json": body}
    r = httpx.post(server[0] + path, headers=headers or {"content-type": "application/json"}, timeout=30, **kw)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["error"], str) and r.json()["error"]


def test_auth_on_and_off(tiny_onnx_bundle, tmp_path, server):
    body = _v1(PAIRS[:1])
    assert httpx.post(server[0] + "/v1/score", json=body).status_code == 200  # off: no token needed
    with run_scorer(tiny_onnx_bundle, tmp_path / "p", token="s3cret") as (url, _):
        assert httpx.post(f"{url}/v1/score", json=body).status_code == 401
        assert httpx.post(f"{url}/v1/score", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
        r = httpx.post(url + INFER, json=_infer_body(PAIRS[:1]), headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and "bearer token" in r.json()["error"]
        ok = {"Authorization": "Bearer s3cret"}
        assert httpx.post(f"{url}/v1/score", json=body, headers=ok).status_code == 200
        assert httpx.post(url + INFER, json=_infer_body(PAIRS[:1]), headers=ok).status_code == 200
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200  # probes stay open


def test_2000_requests_at_32_concurrency_are_all_logged(server):
    url, _, log_file = server
    before = len(log_file.read_text().splitlines()) if log_file.exists() else 0

    async def load() -> list[int]:
        sem = asyncio.Semaphore(32)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as c:
            async def one(i: int) -> int:
                p, r = PAIRS[i % len(PAIRS)]
                async with sem:
                    if i % 2:
                        resp = await c.post("/v1/score", json=_v1([(p, r)]))
                    else:
                        resp = await c.post(INFER, json=_infer_body([(p, r)]))
                    return resp.status_code
            return await asyncio.gather(*(one(i) for i in range(2000)))

    codes = asyncio.run(load())
    assert codes.count(200) == 2000
    lines = log_file.read_text().splitlines()
    assert len(lines) - before == 2000
    rec = json.loads(lines[-1])
    assert {"timestamp", "model_version", "reward", "refusal", "prompt_length"} <= set(rec) and "prompt" not in rec
    metrics = httpx.get(f"{url}/metrics").text
    batches = next(float(x.split()[-1]) for x in metrics.splitlines() if x.startswith("saferlhf_batch_size_count"))
    assert batches < 2000  # concurrent requests were coalesced into fewer model calls
    assert 'saferlhf_requests_total{endpoint="/v1/score",status="200"}' in metrics
    assert 'saferlhf_score_bucket{le="0.5",signal="safety"}' in metrics


# Issue 15 classes: lone surrogates, NaN/inf, huge numbers, deep nesting, shape/data disagreement. Bodies are
# encoded here (json.dumps writes NaN/Infinity literals and \ud800 escapes; httpx's encoder refuses them).
TEXT = st.text(max_size=20) | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3)
SCALAR = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10 ** 30) | st.floats() | TEXT)
JSON = st.recursive(SCALAR, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                      max_size=4), max_leaves=12)
DEEP = st.integers(1, 3000).map(lambda d: "[" * d + '"a"' + "]" * d)  # spliced into a body as raw JSON
TENSOR = st.fixed_dictionaries({"name": st.sampled_from(["prompt", "response", "x"]),
                                "shape": st.lists(st.integers(-2, 3) | st.integers(min_value=10 ** 20), max_size=3),
                                "datatype": st.sampled_from(["BYTES", "FP32", "INT64"]),
                                "data": st.lists(TEXT | JSON | st.lists(st.lists(TEXT, max_size=2), max_size=2),
                                                 max_size=4)})
V1 = st.fixed_dictionaries({"items": st.lists(st.fixed_dictionaries(
    {"prompt": TEXT | JSON, "response": TEXT | JSON}), max_size=10)}) | JSON
OUTPUTS = st.lists(st.fixed_dictionaries({"name": JSON}))
V2 = st.fixed_dictionaries({"inputs": st.lists(TENSOR, max_size=3)},
                           optional={"id": TEXT | JSON, "outputs": OUTPUTS}) | JSON


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/v1/score", INFER]), body=V1 | V2, raw=st.binary(max_size=40),
       mode=st.sampled_from(["json", "raw", "deep"]), deep=DEEP)
def test_fuzz_never_5xx(server, path, body, raw, mode, deep):
    if mode == "raw":
        content = raw
    elif mode == "deep":  # deep nesting where either API expects a string or a list of strings
        content = (f'{{"items": [{{"prompt": {deep}, "response": "a"}}], "inputs": [{{"name": "prompt", '
                   f'"shape": [1], "datatype": "BYTES", "data": [{deep}]}}]}}').encode()
    else:
        content = json.dumps(body).encode()  # allow_nan: NaN / Infinity literals; lone surrogates as \udXXX
    r = httpx.post(server[0] + path, headers={"content-type": "application/json"}, timeout=30, content=content)
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 400:
        assert "error" in r.json()


def test_server_process_has_no_torch_and_stays_small(server):
    """The real server process: no libtorch mapped (an import of torch would map it), RSS well under 500 MB."""
    pid = server[1].pid
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert "onnxruntime" in maps  # sanity: the check sees the server's own libraries
    assert "libtorch" not in maps and "/torch/" not in maps
    rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith("VmHWM:"))
    assert rss_kb < 500 * 1024


def test_graceful_shutdown_flushes_the_log(tiny_onnx_bundle, tmp_path):
    with run_scorer(tiny_onnx_bundle, tmp_path / "p") as (url, proc):
        assert httpx.post(f"{url}/v1/score", json=_v1(PAIRS)).status_code == 200
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    assert len((tmp_path / "p" / "predictions.jsonl").read_text().splitlines()) == len(PAIRS)


def test_v2_shape_n_by_1_accepts_flat_and_nested_rows(server):
    rows = {"inputs": [{"name": "prompt", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], ["b"]]},
                       {"name": "response", "shape": [2, 1], "datatype": "BYTES", "data": ["c", "d"]}]}
    r = httpx.post(server[0] + INFER, json=rows)
    assert r.status_code == 200, r.text
    assert {o["name"]: o["shape"] for o in r.json()["outputs"]} == {"scores": [2, 4], "reward": [2]}

