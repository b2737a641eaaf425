"""INT8 for the ONNX reward model: which weight GEMMs run in INT8, their share of the FLOPs, and the search.

Why the old search could keep every encoder node in fp32 and still sit at max |delta| 0.013: ONNX Runtime's
quantizer first rewrites every `Gemm` as `MatMul` + `Add` (`ONNXModel.replace_gemm_with_matmul`) under a new
name (`<gemm>_MatMul`), then quantizes every MatMul it is not told to skip. The four regression heads are Gemm
nodes on the pooled vector, so they were quantized although no search step ever listed them, and a head's last
layer (192 -> 1, straight into a sigmoid) is exactly where an activation rounding error shows in the score.
Here the quantizer only ever gets an explicit `nodes_to_quantize` list (an empty list would mean "all"), and the
written graph is checked to hold exactly that many integer GEMMs, so nothing is quantized behind the search.

Weight FLOPs per item, T = the item's token count (the service runs items one at a time, no padding):
    encoder MatMul / Attention QKV, weight (K, N):  2 * K * N * T
    head Gemm on the pooled vector, weight (K, N):  2 * K * N
    attention scores and mixing (no weight, fp32 inside QAttention): 2 * 2 * T^2 * hidden per layer
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
INTEGER_OPS = ("MatMulInteger", "QAttention", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat",
               "MatMulNBits")
# what each method can quantize (into MatMulInteger / QAttention, or MatMulNBits)
METHOD_OPS = {"dynamic": ("MatMul", "Attention"), "blockwise": ("MatMul",)}
WEIGHT_OPS = tuple(dict.fromkeys(op for ops in METHOD_OPS.values() for op in ops))  # every op any method takes
MIN_INT8_SHARE = 0.75  # of the encoder's weight MatMuls: below that an "INT8" model is mostly fp32


@dataclass(frozen=True)
class WeightNode:
    """A GEMM with a constant weight: (K, N) = (inputs, outputs); per_token False for the heads (pooled input)."""

    name: str
    op_type: str
    k: int
    n: int
    per_token: bool


def weight_nodes(graph) -> list[WeightNode]:
    """Every MatMul / Attention / Gemm whose weight (input 1) is an initializer, in graph order."""
    dims = {i.name: tuple(i.dims) for i in graph.initializer}
    out = []
    for node in graph.node:
        if node.op_type not in (*WEIGHT_OPS, "Gemm") or len(node.input) < 2 or node.input[1] not in dims:
            continue
        k, n = dims[node.input[1]][-2:]
        if node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute):
            k, n = n, k
        out.append(WeightNode(node.name, node.op_type, int(k), int(n), per_token=node.op_type != "Gemm"))
    return out


def flops_per_item(nodes: list[WeightNode], tokens: np.ndarray, layers: int = 0, hidden: int = 0) -> dict[str, float]:
    """Mean FLOPs per item over items of `tokens` (N,) lengths: weight GEMMs, attention scores, total. The
    attention scores are read off fused Attention nodes (N = 3 * hidden); an unfused graph has none, so its
    encoder's `layers` and `hidden` size count them."""
    t = np.asarray(tokens, dtype=np.float64)
    weight = sum(2.0 * w.k * w.n * (t if w.per_token else 1.0) for w in nodes)
    fused = [w.n // 3 for w in nodes if w.op_type == "Attention"]
    attn = sum(4.0 * t ** 2 * h for h in (fused or [hidden] * layers))  # QK^T and P@V per layer
    weight, attn = float(np.mean(weight)), float(np.mean(attn))
    return {"weight_gflop": weight / 1e9, "attention_gflop": attn / 1e9, "total_gflop": (weight + attn) / 1e9}


def int8_share(nodes: list[WeightNode], int8: list[str], tokens: np.ndarray) -> dict:
    """What share of the model is really INT8: encoder weight nodes counted, and weight FLOPs weighted."""
    chosen = set(int8)
    encoder = [w for w in nodes if w.per_token]
    all_flops = flops_per_item(nodes, tokens)["weight_gflop"]
    int8_flops = flops_per_item([w for w in nodes if w.name in chosen], tokens)["weight_gflop"] if chosen else 0.0
    return {"encoder_weight_nodes": len(encoder), "encoder_int8_nodes": sum(w.name in chosen for w in encoder),
            "encoder_int8_share": sum(w.name in chosen for w in encoder) / max(1, len(encoder)),
            "weight_flops_int8_share": int8_flops / all_flops if all_flops else 0.0}


def quantize(src: Path, dst: Path, int8_nodes: list[str], method: str = "dynamic", block_size: int = 32) -> None:
    """INT8 of exactly the listed nodes; everything else, the heads' Gemm included, stays fp32.

    `dynamic`: MatMul / Attention with per-channel int8 weights and one uint8 activation scale per run (the
    whole (T, K) input shares it, so one outlier channel or token coarsens every other value).
    `blockwise`: MatMul only, as MatMulNBits with 8 bits and accuracy_level 4: int8 weights with one symmetric
    scale per `block_size` inputs of each output column, and int8 activations quantized per token and per block
    of `block_size` channels, so an outlier costs only its own block (the int8 dot products run in MLAS)."""
    import onnx

    if not int8_nodes:  # nodes_to_quantize=[] means "quantize everything" to ONNX Runtime
        raise ValueError("no node to quantize")
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # the quantizer logs every tensor at INFO on the root logger
    try:
        if method == "blockwise":
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

            model, keep = onnx.load(str(src)), set(int8_nodes)
            before = _integer_gemms(model)  # the quantizer rewrites `model` in place
            # nodes_to_include does not restrict (every MatMul is still taken): exclude all the others by name
            q = MatMulNBitsQuantizer(model, bits=8, block_size=block_size, is_symmetric=True, accuracy_level=4,
                                     nodes_to_exclude=[n.name for n in model.graph.node if n.name not in keep])
            q.process()
            q.model.save_model_to_file(str(dst))
        else:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            before = _integer_gemms(onnx.load(str(src), load_external_data=False))
            # DefaultTensorType: the fused contrib ops defeat ONNX shape inference, their outputs are fp32
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=list(METHOD_OPS["dynamic"]), nodes_to_quantize=list(int8_nodes),
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    # src may hold some already (one method after another): count only the new ones
    done = _integer_gemms(onnx.load(str(dst), load_external_data=False)) - before
    if done != len(int8_nodes):  # the graph must hold what the report will say it holds
        raise RuntimeError(f"{dst}: {done} new integer GEMMs after quantizing {len(int8_nodes)} nodes")


def _integer_gemms(model) -> int:
    return sum(n.op_type in INTEGER_OPS for n in model.graph.node)


@dataclass
class SearchResult:
    int8: list[str]
    fp32: list[str]
    calibration_max_abs_diff: float
    trials: int
    seconds: float
    passed: bool
    reason: str = ""


def search(candidates: list[str], keep: list[str], error: Callable[[list[str], bool], float], target: float,
           max_fp32: int, budget_s: float) -> SearchResult:
    """Start from every candidate in INT8; while the calibration error (`error(int8_nodes, quick)`) is above
    `target`, move the most sensitive node to fp32 (sensitivity: the error with that node alone in INT8, on the
    quick subset). Stops, failed, when more than `max_fp32` nodes would be fp32 or the time budget is spent."""
    t0, trials = time.perf_counter(), 0

    def run(int8: list[str], quick: bool = False) -> float:
        nonlocal trials
        trials += 1
        return error(int8, quick)

    fp32 = [n for n in candidates if n in keep]
    int8 = [n for n in candidates if n not in fp32]
    err = run(int8) if int8 else math.inf
    log.info("INT8 calibration max |delta| %.4f with %d of %d nodes in INT8 (target %.4f)", err, len(int8),
             len(candidates), target)
    reason = ""
    if err > target and len(fp32) < max_fp32:
        sens: dict[str, float] = {}
        for n in int8:
            if time.perf_counter() - t0 > budget_s:
                break
            sens[n] = run([n], True)
        for n in sorted(sens, key=sens.get, reverse=True):
            if err <= target or len(fp32) >= max_fp32 or time.perf_counter() - t0 > budget_s:
                break
            fp32.append(n)
            int8.remove(n)
            err = run(int8) if int8 else math.inf
            log.info("keep %s in fp32 -> calibration max |delta| %.4f", n, err)
    passed = err <= target and len(fp32) <= max_fp32
    if not passed:
        reason = (f"calibration max |delta| {err:.4f} > {target:.4f} with {len(fp32)} of {len(candidates)} nodes "
                  f"in fp32 (at most {max_fp32} may be)"
                  + ("; search time budget spent" if time.perf_counter() - t0 > budget_s else ""))
    return SearchResult(int8, fp32, float(err), trials, round(time.perf_counter() - t0, 1), passed, reason)


def keep_patterns(names: list[str], patterns: tuple[str, ...]) -> list[str]:
    """Names matching any of the regular expressions (config int8_keep_fp32)."""
    return [n for n in names if any(re.search(p, n) for p in patterns)]
