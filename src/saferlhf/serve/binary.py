"""Raw tensor bytes of the Open Inference Protocol: the REST binary tensor data extension and gRPC raw contents.

REST (Triton's `binary_tensor_data` extension, which the stock V2 clients use by default): the body is a JSON
header of `Inference-Header-Content-Length` bytes followed by the inputs' raw data, one block per input whose
`parameters.binary_data_size` says how many bytes it takes, in the order of `inputs`. Responses mirror it for
the outputs asked for with `binary_data`. gRPC carries the same blocks in `raw_input_contents` /
`raw_output_contents`. Raw layouts: BYTES = per element a 4-byte little-endian length, then the bytes;
FP32 = little-endian IEEE floats, row-major."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from saferlhf.serve.v2 import RequestError

_LEN = struct.Struct("<I")  # the 4-byte little-endian element length of raw BYTES


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo a request's Content-Encoding (gzip / deflate, as the Triton client can send), refusing to inflate
    past `limit` bytes (a small compressed body may expand enormously)."""
    if not encoding or encoding.strip().lower() == "identity":
        return body
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding.strip().lower())
    if wbits is None:
        raise RequestError(f"Content-Encoding: {encoding!r} is not supported; use gzip, deflate or none", 415)
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise RequestError(f"Content-Encoding {encoding}: the body does not decompress ({e})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise RequestError(f"Content-Encoding {encoding}: the body inflates past the limit of {limit} bytes", 413)
    return out


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON header, binary tail) of a request body; no `Inference-Header-Content-Length` = all JSON."""
    if header_length is None:
        return body, b""
    if not header_length.strip().isdigit():
        raise RequestError(f"Inference-Header-Content-Length: must be a byte count, got {header_length!r}")
    n = int(header_length)
    if n > len(body):
        raise RequestError(f"Inference-Header-Content-Length: {n} is more than the {len(body)}-byte body")
    return body[:n], body[n:]


def decode_bytes(raw: bytes, where: str) -> list[bytes]:
    """Raw BYTES tensor data -> its elements (each a 4-byte LE length + that many bytes)."""
    out, pos = [], 0
    view = memoryview(raw)
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise RequestError(f"{where}: truncated BYTES data ({len(raw) - pos} bytes left where a 4-byte length "
                               f"prefix was expected at byte {pos})")
        (n,) = _LEN.unpack_from(view, pos)
        pos += 4
        if pos + n > len(raw):
            raise RequestError(f"{where}: BYTES element {len(out)} declares {n} bytes but only {len(raw) - pos} "
                               "are left")
        out.append(bytes(view[pos:pos + n]))
        pos += n
    return out


def decode_texts(raw: bytes, where: str) -> list[str]:
    """Raw BYTES data -> UTF-8 strings (a bad element is named in the error)."""
    return utf8_texts(decode_bytes(raw, where), where)


def utf8_texts(items: list[bytes], where: str) -> list[str]:
    texts = []
    for i, b in enumerate(items):
        try:
            texts.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestError(f"{where}[{i}]: not valid UTF-8 text") from None
    return texts


def encode_bytes(items: list[bytes]) -> bytes:
    """Elements -> raw BYTES data (the inverse of decode_bytes)."""
    return b"".join(_LEN.pack(len(b)) + b for b in items)


def fp32_bytes(values: np.ndarray) -> bytes:
    """Any-shape array -> raw FP32 data (little-endian, row-major)."""
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


def raw_texts(tensor: dict, raw: bytes, where: str) -> list[str]:
    """Texts of a raw BYTES input; other datatypes yield no elements (v2.parse_inputs then names the datatype)."""
    return decode_texts(raw, where) if tensor.get("datatype") == "BYTES" else []


def attach_binary_inputs(inputs: list[dict], tail: bytes) -> None:
    """Decode every input with `parameters.binary_data_size` from its block of `tail` into `data` (in place).
    JSON `data` and binary data on one input, a size that overruns the tail, or bytes left over are errors."""
    pos = 0
    for t in inputs:
        params = t.get("parameters") or {}
        for key in ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset"):
            if key in params:
                raise RequestError(f"inputs.{t['name']}.parameters.{key}: the shared-memory extension is not "
                                   "supported by this server; send the data in the body")
        size = params.get("binary_data_size")
        if size is None:
            if t.get("data") is None:
                raise RequestError(f"inputs.{t['name']}: no data (give `data` or parameters.binary_data_size)")
            continue
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise RequestError(f"inputs.{t['name']}.parameters.binary_data_size: must be a byte count, got {size!r}")
        if t.get("data") is not None:
            raise RequestError(f"inputs.{t['name']}: both `data` and parameters.binary_data_size given; use one")
        if pos + size > len(tail):
            raise RequestError(f"inputs.{t['name']}.parameters.binary_data_size: {size} bytes asked but only "
                               f"{len(tail) - pos} binary bytes are left in the body")
        t["data"] = raw_texts(t, tail[pos:pos + size], f"inputs.{t['name']}")
        pos += size
    if pos != len(tail):
        raise RequestError(f"body: {len(tail) - pos} binary bytes after the JSON header are not claimed by any "
                           "input's parameters.binary_data_size")


def response_body(header: dict, blobs: list[np.ndarray]) -> tuple[bytes, int | None]:
    """REST response body: the JSON header, then the binary outputs' raw FP32 data in order; the header's
    length is the `Inference-Header-Content-Length` to send (None: no binary outputs, plain JSON)."""
    head = json.dumps(header, separators=(",", ":")).encode()
    if not blobs:
        return head, None
    return head + b"".join(fp32_bytes(a) for a in blobs), len(head)
