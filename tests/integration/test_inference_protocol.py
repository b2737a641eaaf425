"""Open Inference Protocol conformance with client libraries nobody here wrote: Triton's `tritonclient` (HTTP and
gRPC) against the real `saferlhf serve --grpc-port` on loopback.

REST with JSON and with the binary tensor data extension (inputs, outputs, both, the client's defaults), gzip
request bodies and no Content-Type at all; gRPC live/ready/metadata/infer; scores equal to /v1/score for the
same items; bad input -> the right HTTP status / gRPC code; one prediction log and one batcher for both."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import numpy as np
import pytest

from saferlhf.signals import SIGNALS
from tests.conftest import free_port
from tests.integration.test_serving import PAIRS, run_scorer

tritonhttp = pytest.importorskip("tritonclient.http")
tritongrpc = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException  # noqa: E402

pytestmark = pytest.mark.slow
MODEL = "saferlhf-reward"


@pytest.fixture(scope="module")
def server(tiny_onnx_bundle, tmp_path_factory):
    """fp32 server with REST and gRPC; yields (REST host:port, gRPC host:port, prediction log path)."""
    tmp = tmp_path_factory.mktemp("oip")
    gport = free_port()
    with run_scorer(tiny_onnx_bundle, tmp / "predictions", "--precision", "fp32", "--max-items", "8",
                    "--max-batch-size", "32", "--grpc-port", str(gport)) as (url, _):
        yield url.removeprefix("http://"), f"127.0.0.1:{gport}", tmp / "predictions" / "predictions.jsonl"


def _v1_scores(rest: str, pairs) -> np.ndarray:
    r = httpx.post(f"http://{rest}/v1/score", json={"items": [{"prompt": p, "response": q} for p, q in pairs]})
    assert r.status_code == 200, r.text
    return np.array([[it[s] for s in SIGNALS] + [it["reward"]] for it in r.json()["results"]], dtype=np.float32)


def _inputs(mod, pairs, binary: bool | None = None, datatype: str = "BYTES"):
    out = []
    for name, col in (("prompt", [p for p, _ in pairs]), ("response", [r for _, r in pairs])):
        t = mod.InferInput(name, [len(col)], datatype)
        arr = np.array(col, dtype=object) if datatype == "BYTES" else np.ones(len(col), dtype=np.float32)
        t.set_data_from_numpy(arr) if binary is None else t.set_data_from_numpy(arr, binary_data=binary)
        out.append(t)
    return out


def _lines(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_rest_health_and_metadata(server):
    c = tritonhttp.InferenceServerClient(server[0])
    assert c.is_server_live() and c.is_server_ready() and c.is_model_ready(MODEL)
    meta = c.get_model_metadata(MODEL)
    assert [i["name"] for i in meta["inputs"]] == ["prompt", "response"]
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {"scores": [-1, 4], "reward": [-1]}
    assert c.get_server_metadata()["name"] == "saferlhf-scorer"


@pytest.mark.parametrize("binary_in, binary_out", [(False, False), (True, False), (False, True), (True, True),
                                                   (None, None)], ids=["json", "bin-in", "bin-out", "bin-both",
                                                                       "client-defaults"])
def test_rest_infer_json_and_binary_equal_v1(server, binary_in, binary_out):
    """None = the client's defaults: binary inputs, no outputs named -> binary_data_output for all."""
    expected = _v1_scores(server[0], PAIRS)
    c = tritonhttp.InferenceServerClient(server[0])
    outputs = None if binary_out is None else [tritonhttp.InferRequestedOutput(n, binary_data=binary_out)
                                               for n in ("scores", "reward")]
    res = c.infer(MODEL, _inputs(tritonhttp, PAIRS, binary_in), outputs=outputs, request_id="req-7")
    assert res.get_response()["id"] == "req-7"
    got = np.column_stack([res.as_numpy("scores"), res.as_numpy("reward")])
    assert res.as_numpy("scores").dtype == np.float32 and got.shape == (len(PAIRS), 5)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    sent_binary = [o for o in res.get_response()["outputs"] if "binary_data_size" in (o.get("parameters") or {})]
    assert len(sent_binary) == (0 if binary_out is False else 2)


def test_rest_gzip_body_and_no_content_type(server):
    expected = _v1_scores(server[0], PAIRS[:2])
    c = tritonhttp.InferenceServerClient(server[0])
    res = c.infer(MODEL, _inputs(tritonhttp, PAIRS[:2]), request_compression_algorithm="gzip")
    np.testing.assert_allclose(res.as_numpy("reward"), expected[:, 4], atol=1e-6)
    body = json.dumps({"inputs": [{"name": n, "shape": [1], "datatype": "BYTES", "data": [v]}
                                  for n, v in zip(("prompt", "response"), PAIRS[0])]}).encode()
    with httpx.Client() as h:  # the header a stock client leaves out, really absent on the wire
        req = h.build_request("POST", f"http://{server[0]}/v2/models/{MODEL}/infer", content=body)
        assert "content-type" not in req.headers
        r = h.send(req)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["outputs"][1]["data"], expected[:1, 4], atol=1e-6)


def _binary_body(prompt: bytes, extra_size: int = 0, tail_extra: bytes = b"") -> tuple[bytes, str]:
    from saferlhf.serve.binary import encode_bytes

    raw = encode_bytes([prompt])
    head = json.dumps({"inputs": [
        {"name": "prompt", "shape": [1], "datatype": "BYTES",
         "parameters": {"binary_data_size": len(raw) + extra_size}},
        {"name": "response", "shape": [1], "datatype": "BYTES", "data": ["ok"]}]}).encode()
    return head + raw + tail_extra, str(len(head))


REST_BAD = [  # (name, body, headers, status)
    ("header length over body", lambda: (b"{}", {"Inference-Header-Content-Length": "99"}), 400),
    ("header length not a number", lambda: (b"{}", {"Inference-Header-Content-Length": "x"}), 400),
    ("binary size overruns", lambda: _binary_body(b"hi", extra_size=5), 400),
    ("unclaimed binary bytes", lambda: _binary_body(b"hi", tail_extra=b"zz"), 400),
    ("binary not UTF-8", lambda: _binary_body(b"\xff\xfe"), 400),
    ("octet-stream without header", lambda: (b"{}", {"Content-Type": "application/octet-stream"}), 415),
    ("unsupported encoding", lambda: (b"{}", {"Content-Encoding": "br"}), 415),
    ("corrupt gzip", lambda: (b"not gzip", {"Content-Encoding": "gzip"}), 400),
]


@pytest.mark.parametrize("name, make, status", REST_BAD, ids=[b[0] for b in REST_BAD])
def test_rest_bad_binary_is_4xx(server, name, make, status):
    body, headers = make()
    if isinstance(headers, str):  # _binary_body: the header length
        headers = {"Inference-Header-Content-Length": headers, "Content-Type": "application/octet-stream"}
    r = httpx.post(f"http://{server[0]}/v2/models/{MODEL}/infer", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"]


def test_grpc_health_metadata_and_infer_equal_v1(server):
    expected = _v1_scores(server[0], PAIRS)
    with contextlib.closing(tritongrpc.InferenceServerClient(server[1])) as c:
        assert c.is_server_live() and c.is_server_ready() and c.is_model_ready(MODEL)
        meta = c.get_model_metadata(MODEL, as_json=True)
        assert [i["name"] for i in meta["inputs"]] == ["prompt", "response"] and meta["platform"]
        assert c.get_server_metadata(as_json=True)["name"] == "saferlhf-scorer"
        assert not _grpc_ok(lambda: c.is_model_ready("other"))
        res = c.infer(MODEL, _inputs(tritongrpc, PAIRS), request_id="g-1")
        assert res.get_response().id == "g-1"
        np.testing.assert_allclose(np.column_stack([res.as_numpy("scores"), res.as_numpy("reward")]), expected,
                                   atol=1e-6)
        only = c.infer(MODEL, _inputs(tritongrpc, PAIRS[:1]), outputs=[tritongrpc.InferRequestedOutput("reward")])
        assert [o.name for o in only.get_response().outputs] == ["reward"]


def test_grpc_health_check(server):
    """grpc.health.v1.Health/Check as a Kubernetes `grpc:` probe asks it. The wire bytes are written out by hand from
    the standard proto (request: service = field 1, string; response: status = field 1, varint, SERVING = 1), so
    the check does not lean on this repository's generated code."""
    import grpc

    with grpc.insecure_channel(server[1]) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")  # no serializers: bytes in, bytes out
        assert check(b"", timeout=10) == b"\x08\x01"
        name = b"inference.GRPCInferenceService"
        assert check(b"\x0a" + bytes([len(name)]) + name, timeout=10) == b"\x08\x01"
        with pytest.raises(grpc.RpcError) as e:
            check(b"\x0a\x03foo", timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def _grpc_ok(call) -> bool:
    try:
        return bool(call())
    except InferenceServerException:
        return False


def _grpc_code(call) -> str:
    with pytest.raises(InferenceServerException) as e:
        call()
    assert e.value.message()  # a one-line reason, not an empty status
    return str(e.value.status())


def test_grpc_bad_input_status_codes(server):
    with contextlib.closing(tritongrpc.InferenceServerClient(server[1])) as c:
        bad_utf8 = tritongrpc.InferInput("prompt", [1], "BYTES")
        bad_utf8.set_data_from_numpy(np.array([b"\xff\xfe"], dtype=object))
        cases = {
            "wrong datatype": (lambda: c.infer(MODEL, _inputs(tritongrpc, PAIRS[:1], datatype="FP32")),
                               "INVALID_ARGUMENT"),
            "missing input": (lambda: c.infer(MODEL, _inputs(tritongrpc, PAIRS[:1])[:1]), "INVALID_ARGUMENT"),
            "not UTF-8": (lambda: c.infer(MODEL, [bad_utf8, _inputs(tritongrpc, PAIRS[:1])[1]]), "INVALID_ARGUMENT"),
            "unknown output": (lambda: c.infer(MODEL, _inputs(tritongrpc, PAIRS[:1]),
                                               outputs=[tritongrpc.InferRequestedOutput("logits")]),
                               "INVALID_ARGUMENT"),
            "unknown model": (lambda: c.infer("other", _inputs(tritongrpc, PAIRS[:1])), "NOT_FOUND"),
            "too many items": (lambda: c.infer(MODEL, _inputs(tritongrpc, PAIRS[:1] * 9)), "RESOURCE_EXHAUSTED"),
            "message too large": (lambda: c.infer(MODEL, _inputs(tritongrpc, [("a" * 1_200_000, "b")] * 8)),
                                  "RESOURCE_EXHAUSTED"),
        }
        got = {name: _grpc_code(call) for name, (call, _) in cases.items()}
    assert got == {name: f"StatusCode.{code}" for name, (_, code) in cases.items()}


def test_grpc_and_rest_share_batcher_log_and_metrics(server):
    """64 gRPC + 64 REST binary requests at once: all answered, 128 log records, fewer model calls than requests."""
    rest, grpc_addr, log_file = server
    before = _lines(log_file)
    def batches() -> float:
        return next(float(x.split()[-1]) for x in httpx.get(f"http://{rest}/metrics").text.splitlines()
                    if x.startswith("saferlhf_batch_size_count"))

    b0 = batches()
    import tritonclient.grpc.aio as grpc_aio
    import tritonclient.http.aio as http_aio

    async def load():
        g, h = grpc_aio.InferenceServerClient(grpc_addr), http_aio.InferenceServerClient(rest, conn_limit=64)
        try:
            calls = [g.infer(MODEL, _inputs(tritongrpc, [PAIRS[i % len(PAIRS)]])) for i in range(64)]
            calls += [h.infer(MODEL, _inputs(tritonhttp, [PAIRS[i % len(PAIRS)]])) for i in range(64)]
            return await asyncio.gather(*calls)
        finally:
            await g.close()
            await h.close()

    results = asyncio.run(load())
    assert len(results) == 128 and all(r.as_numpy("reward").shape == (1,) for r in results)
    assert _lines(log_file) - before == 128
    assert batches() - b0 < 128  # requests of both protocols were coalesced by the one batcher
    metrics = httpx.get(f"http://{rest}/metrics").text
    assert 'saferlhf_requests_total{endpoint="grpc:ModelInfer",status="OK"}' in metrics


def test_auth_over_grpc_and_binary_rest(tiny_onnx_bundle, tmp_path):
    gport = free_port()
    with run_scorer(tiny_onnx_bundle, tmp_path / "p", "--grpc-port", str(gport), token="s3cret") as (url, _):
        with contextlib.closing(tritongrpc.InferenceServerClient(f"127.0.0.1:{gport}")) as c:
            assert c.is_server_ready()  # probes stay open
            assert _grpc_code(lambda: c.infer(MODEL, _inputs(tritongrpc, PAIRS[:1]))) == "StatusCode.UNAUTHENTICATED"
            wrong = {"authorization": "Bearer nope"}
            assert _grpc_code(lambda: c.infer(MODEL, _inputs(tritongrpc, PAIRS[:1]), headers=wrong)) \
                == "StatusCode.UNAUTHENTICATED"
            ok = c.infer(MODEL, _inputs(tritongrpc, PAIRS[:1]), headers={"authorization": "Bearer s3cret"})
            assert ok.as_numpy("scores").shape == (1, 4)
        h = tritonhttp.InferenceServerClient(url.removeprefix("http://"))
        with pytest.raises(InferenceServerException):
            h.infer(MODEL, _inputs(tritonhttp, PAIRS[:1]))
        assert h.infer(MODEL, _inputs(tritonhttp, PAIRS[:1]),
                       headers={"Authorization": "Bearer s3cret"}).as_numpy("reward").shape == (1,)
