"""The binary tensor data extension's byte layouts (REST body tail, gRPC raw contents)."""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import numpy as np
import pytest

from saferlhf.serve import binary, v2

TEXTS = ["How do I make a bomb?", "", "¿Cómo estás? 😀"]


def test_bytes_round_trip_and_layout():
    raw = binary.encode_bytes([t.encode() for t in TEXTS])
    # layout: 4-byte little-endian length, then the UTF-8 bytes, per element
    assert raw[:4] == struct.pack("<I", len(TEXTS[0].encode())) and raw[4:25] == TEXTS[0].encode()
    assert binary.decode_texts(raw, "x") == TEXTS
    assert binary.decode_texts(b"", "x") == []


@pytest.mark.parametrize("raw, needle", [
    (b"\x05\x00", "truncated BYTES data"),
    (struct.pack("<I", 9) + b"abc", "declares 9 bytes but only 3"),
    (struct.pack("<I", 2) + b"\xff\xfe", r"x\[0\]: not valid UTF-8"),
])
def test_bad_bytes(raw, needle):
    with pytest.raises(v2.RequestError, match=needle) as e:
        binary.decode_texts(raw, "x")
    assert e.value.status == 400


def _body(inputs, blobs):
    head = json.dumps({"inputs": inputs}).encode()
    return head, head + b"".join(blobs)


def test_split_and_attach_binary_inputs():
    p, r = binary.encode_bytes([b"a", b"bb"]), binary.encode_bytes([b"x", b"y"])
    inputs = [{"name": "prompt", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(p)}},
              {"name": "response", "datatype": "BYTES", "shape": [2], "data": ["x", "y"]}]
    head, body = _body(inputs, [p])
    h, tail = binary.split_body(body, str(len(head)))
    assert h == head and tail == p
    binary.attach_binary_inputs(inputs, tail)
    assert v2.parse_inputs(inputs) == (["a", "bb"], ["x", "y"])
    inputs[1] = {"name": "response", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(r)}}
    inputs[0].pop("data")
    binary.attach_binary_inputs(inputs, p + r)  # several binary inputs: blocks in input order
    assert v2.parse_inputs(inputs) == (["a", "bb"], ["x", "y"])


@pytest.mark.parametrize("params, data, tail, needle", [
    ({"binary_data_size": 10}, None, b"abc", "10 bytes asked but only 3"),
    ({"binary_data_size": 0}, None, b"abc", "3 binary bytes after the JSON header are not claimed"),
    ({"binary_data_size": -1}, None, b"", "must be a byte count"),
    ({"binary_data_size": 0}, ["a"], b"", "both `data` and parameters.binary_data_size"),
    ({}, None, b"", "no data"),
    ({"shared_memory_region": "r"}, None, b"", "shared-memory extension is not supported"),
])
def test_bad_binary_inputs(params, data, tail, needle):
    t = {"name": "prompt", "datatype": "BYTES", "shape": [1], "parameters": params, "data": data}
    with pytest.raises(v2.RequestError, match=needle):
        binary.attach_binary_inputs([t], tail)


def test_bad_header_length():
    with pytest.raises(v2.RequestError, match="must be a byte count"):
        binary.split_body(b"{}", "ten")
    with pytest.raises(v2.RequestError, match="more than the 2-byte body"):
        binary.split_body(b"{}", "5")
    assert binary.split_body(b"{}", None) == (b"{}", b"")


def test_response_body_binary_and_json():
    scores = np.arange(8, dtype=np.float32).reshape(2, 4)
    body, n = binary.response_body({"outputs": []}, [scores])
    assert body[:n] == b'{"outputs":[]}'
    np.testing.assert_array_equal(np.frombuffer(body[n:], "<f4").reshape(2, 4), scores)
    assert binary.response_body({"a": 1}, []) == (b'{"a":1}', None)


def test_content_encoding_bounded():
    data = b'{"inputs": []}' * 10
    assert binary.decode_content(gzip.compress(data), "gzip", 1000) == data
    assert binary.decode_content(zlib.compress(data), "deflate", 1000) == data
    assert binary.decode_content(data, None, 10) == data
    with pytest.raises(v2.RequestError) as e:  # a zip bomb stops at the limit
        binary.decode_content(gzip.compress(b"0" * 10_000_000), "gzip", 100_000)
    assert e.value.status == 413
    with pytest.raises(v2.RequestError, match="does not decompress"):
        binary.decode_content(b"not gzip", "gzip", 1000)
    with pytest.raises(v2.RequestError, match="not supported") as e:
        binary.decode_content(data, "br", 1000)
    assert e.value.status == 415
