"""Request checks shared by both APIs, and the KServe V2 (Open Inference Protocol) tensor mapping.

V2 inputs: BYTES tensors `prompt` and `response`, shape [N] (or [N, 1]), JSON data as strings (flat or nested
row-major). Outputs: `scores` FP32 [N, 4] (SIGNALS order) and `reward` FP32 [N], data flattened row-major."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from saferlhf.errors import UserError
from saferlhf.signals import SIGNALS

INPUT_NAMES = ("prompt", "response")
OUTPUTS = {"scores": ("FP32", [-1, len(SIGNALS)]), "reward": ("FP32", [-1])}


class RequestError(UserError):
    """A bad request: HTTP status + one line saying what is wrong and where."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def check_texts(prompts: Sequence[str], responses: Sequence[str], max_items: int, max_chars: int,
                where: str = "items") -> None:
    """Empty batch / too many items / too long texts / text that is not valid Unicode -> RequestError."""
    if not prompts:
        raise RequestError(f"{where}: empty batch; send at least one (prompt, response) pair")
    if len(prompts) > max_items:
        raise RequestError(f"{where}: {len(prompts)} items, the limit is {max_items} per request", 413)
    for kind, texts in (("prompt", prompts), ("response", responses)):
        for i, t in enumerate(texts):
            if len(t) > max_chars:
                raise RequestError(f"{where}[{i}].{kind}: {len(t)} characters, the limit is {max_chars}", 413)
            check_unicode(t, f"{where}[{i}].{kind}")


def check_unicode(text: str | None, where: str) -> None:
    """Lone surrogates (JSON "\ud800" escapes) cannot be encoded in a response or a log line -> 400."""
    try:
        if text is not None:
            text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(f"{where}: not valid Unicode text (lone surrogate)") from None


def _flatten(data: list, shape: Sequence[int], name: str) -> list:
    """Row-major flat data, or data nested exactly as `shape` ([N] or [N, 1]) -> flat list; other nesting 400.
    Never recurses (the body's depth is bounded before parsing, but this must not depend on it)."""
    if len(shape) == 2 and any(isinstance(x, list) for x in data):
        if not all(isinstance(x, list) and len(x) == 1 for x in data):
            raise RequestError(f"inputs.{name}: data must be flat or nested as shape {list(shape)} ([[s], [s], ...])")
        data = [x[0] for x in data]
    bad = next((i for i, x in enumerate(data) if isinstance(x, list)), None)
    if bad is not None:
        raise RequestError(f"inputs.{name}.data[{bad}]: nested deeper than shape {list(shape)} allows")
    return data


def parse_inputs(inputs: Sequence[dict]) -> tuple[list[str], list[str]]:
    """V2 `inputs` (dicts with name, shape, datatype, data) -> (prompts, responses)."""
    by_name: dict[str, dict] = {}
    for t in inputs:
        if t["name"] not in INPUT_NAMES:
            raise RequestError(f"inputs: unknown input {t['name']!r}; expected {' and '.join(INPUT_NAMES)}")
        if t["name"] in by_name:
            raise RequestError(f"inputs: {t['name']!r} given twice")
        by_name[t["name"]] = t
    missing = [n for n in INPUT_NAMES if n not in by_name]
    if missing:
        raise RequestError(f"inputs: missing {' and '.join(repr(m) for m in missing)} (BYTES tensors of shape [N])")
    texts = [_tensor_texts(by_name[n]) for n in INPUT_NAMES]
    if len(texts[0]) != len(texts[1]):
        raise RequestError(f"inputs: prompt has {len(texts[0])} elements but response has {len(texts[1])}")
    return texts[0], texts[1]


def _tensor_texts(t: dict) -> list[str]:
    """Texts of one BYTES input whose `data` is JSON (flat or nested) or already decoded from raw bytes."""
    name, shape = t["name"], t["shape"]
    if t["datatype"] != "BYTES":
        raise RequestError(f"inputs.{name}: datatype must be BYTES, got {t['datatype']!r}")
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or any(d < 0 for d in shape):
        raise RequestError(f"inputs.{name}: shape must be [N] or [N, 1], got {list(shape)}")
    data = _flatten(t["data"], shape, name)
    need = math.prod(shape)  # Python ints: a huge declared shape cannot overflow
    if len(data) != need:
        raise RequestError(f"inputs.{name}: shape {list(shape)} needs {need} elements, got {len(data)}")
    bad = next((i for i, x in enumerate(data) if not isinstance(x, str)), None)
    if bad is not None:
        raise RequestError(f"inputs.{name}.data[{bad}]: BYTES elements must be JSON strings, "
                           f"got {type(data[bad]).__name__}")
    return data


def requested_outputs(outputs: Sequence[dict] | None, parameters: dict | None = None) -> list[tuple[str, bool]]:
    """(name, binary) of each output to return (all when the request names none). `binary`: the output's
    `parameters.binary_data`, else the request's `parameters.binary_data_output` (binary tensor extension)."""
    default = _flag(parameters, "binary_data_output", "parameters", False)
    if not outputs:
        return [(n, default) for n in OUTPUTS]
    plan = []
    for i, o in enumerate(outputs):
        if o["name"] not in OUTPUTS:
            raise RequestError(f"outputs: unknown output {o['name']!r}; available: {', '.join(OUTPUTS)}")
        params = o.get("parameters") or {}
        for key in ("classification", "shared_memory_region"):
            if key in params:
                raise RequestError(f"outputs[{i}].parameters.{key}: not supported by this server")
        plan.append((o["name"], _flag(params, "binary_data", f"outputs[{i}].parameters", default)))
    return plan


def _flag(params: dict | None, key: str, where: str, default: bool) -> bool:
    value = (params or {}).get(key, default)
    if not isinstance(value, bool):
        raise RequestError(f"{where}.{key}: must be true or false, got {value!r}")
    return value


def output_arrays(scores: np.ndarray, rewards: np.ndarray) -> dict[str, np.ndarray]:
    """The model's outputs by name: scores (N, 4) and reward (N,), float32."""
    return {"scores": scores.astype(np.float32), "reward": rewards.astype(np.float32)}


def encode_outputs(scores: np.ndarray, rewards: np.ndarray, plan: Sequence[tuple[str, bool]]
                   ) -> tuple[list[dict], list[np.ndarray]]:
    """V2 output tensors (FP32, row-major flat JSON data) and, in order, the arrays of those sent as binary: a
    binary output carries `parameters.binary_data_size` instead of `data` (binary tensor extension)."""
    arrays = output_arrays(scores, rewards)
    tensors, blobs = [], []
    for name, binary in plan:
        a = arrays[name]
        t = {"name": name, "datatype": "FP32", "shape": list(a.shape)}
        if binary:
            t["parameters"] = {"binary_data_size": a.nbytes}
            blobs.append(a)
        else:
            t["data"] = a.ravel().tolist()
        tensors.append(t)
    return tensors, blobs


def tensor_metadata() -> tuple[list[dict], list[dict]]:
    """(inputs, outputs) for the V2 model metadata endpoint."""
    inputs = [{"name": n, "datatype": "BYTES", "shape": [-1]} for n in INPUT_NAMES]
    outputs = [{"name": n, "datatype": dt, "shape": shape} for n, (dt, shape) in OUTPUTS.items()]
    return inputs, outputs
