"""INT8 node choice and accounting on small real ONNX graphs (built here) through ONNX Runtime's quantizer.

The regression this guards: ONNX Runtime rewrites `Gemm` as `MatMul` under a new name and quantized it although no
search step listed it (the reward heads are Gemm), so "every node fp32" still carried INT8 error."""

from __future__ import annotations

import numpy as np
import pytest

from saferlhf.quantize import flops_per_item, int8_share, quantize, search, weight_nodes


def _graph(path, hidden=16, out=4):
    """x (T, H) -> MatMul enc0 -> MatMul enc1 -> ReduceMean over T -> Gemm head (H -> out): an encoder + head."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.3  # noqa: E731
    inits = [numpy_helper.from_array(w(hidden, hidden), "w0"), numpy_helper.from_array(w(hidden, 2 * hidden), "w1"),
             numpy_helper.from_array(w(out, 2 * hidden), "wh"), numpy_helper.from_array(w(out), "bh")]
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h0"], name="enc0"),
             helper.make_node("MatMul", ["h0", "w1"], ["h1"], name="enc1"),
             helper.make_node("ReduceMean", ["h1"], ["pooled"], axes=[0], keepdims=1, name="pool"),
             helper.make_node("Gemm", ["pooled", "wh", "bh"], ["y"], transB=1, name="head")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["t", hidden])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return g


def _ops(path):
    import onnx

    return [n.op_type for n in onnx.load(str(path)).graph.node]


def test_weight_nodes_and_flops_per_item(tmp_path):
    g = _graph(tmp_path / "m.onnx")
    nodes = {w.name: w for w in weight_nodes(g)}
    assert [(w.k, w.n, w.per_token) for w in nodes.values()] == [(16, 16, True), (16, 32, True), (32, 4, False)]
    tokens = np.array([3, 5])
    f = flops_per_item(list(nodes.values()), tokens)
    # encoder GEMMs scale with each item's tokens, the head runs once per item
    assert f["weight_gflop"] * 1e9 == pytest.approx(np.mean(2 * (16 * 16 + 16 * 32) * tokens) + 2 * 32 * 4)
    assert f["attention_gflop"] == 0  # no fused Attention node, no encoder shape given
    unfused = flops_per_item(list(nodes.values()), tokens, layers=2, hidden=16)  # QK^T + P@V per layer
    assert unfused["attention_gflop"] * 1e9 == pytest.approx(np.mean(2 * 4 * tokens ** 2 * 16))
    share = int8_share(list(nodes.values()), ["enc1"], tokens)
    assert share["encoder_weight_nodes"] == 2 and share["encoder_int8_nodes"] == 1
    assert share["encoder_int8_share"] == 0.5
    assert 0 < share["weight_flops_int8_share"] < 1


def test_quantize_touches_only_the_listed_nodes(tmp_path):
    """Left to itself the quantizer also turns the Gemm head into MatMulInteger; the list keeps it fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src = tmp_path / "m.onnx"
    _graph(src)
    quantize_dynamic(str(src), str(tmp_path / "stock.onnx"), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=["enc0", "enc1"])
    assert _ops(tmp_path / "stock.onnx").count("MatMulInteger") == 1  # the head, behind the exclusion list

    quantize(src, tmp_path / "q.onnx", ["enc1"])
    ops = _ops(tmp_path / "q.onnx")
    # enc1 in INT8; enc0 and the head (rewritten as MatMul + Add by the quantizer) stay float MatMuls
    assert ops.count("MatMulInteger") == 1 and ops.count("MatMul") == 2
    with pytest.raises(ValueError, match="no node"):  # [] would mean "everything" to ONNX Runtime
        quantize(src, tmp_path / "q.onnx", [])

    import onnxruntime as ort

    x = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    ref = ort.InferenceSession(str(src)).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(tmp_path / "q.onnx")).run(None, {"x": x})[0]
    assert 0 < np.abs(got - ref).max() < 0.1 * np.abs(ref).max()  # quantized, and close


def test_blockwise_quantizes_only_the_listed_matmuls_and_is_closer_than_dynamic(tmp_path):
    """MatMulNBits (8-bit, accuracy_level 4) of enc0 alone: the head and enc1 stay float. One channel of enc0's
    input 30x the others: dynamic INT8's single per-run scale spends its levels on it, blockwise scales (one per
    token and block of 16 channels) confine it to its block, so blockwise errs less. (It must be the node that
    reads x: behind enc0 the outlier is spread over every channel, and which method errs less there depends on
    the CPU's kernel — the AVX2 and AVX-512 VNNI ones differ.)"""
    import onnxruntime as ort

    src = tmp_path / "m.onnx"
    _graph(src, hidden=32)
    quantize(src, tmp_path / "b.onnx", ["enc0"], method="blockwise", block_size=16)
    ops = _ops(tmp_path / "b.onnx")
    assert ops.count("MatMulNBits") == 1 and ops.count("MatMul") == 1 and ops.count("Gemm") == 1
    quantize(src, tmp_path / "d.onnx", ["enc0"])
    x = np.random.default_rng(2).standard_normal((7, 32)).astype(np.float32)
    x[:, 3] *= 30  # an outlier channel, as transformer activations have
    ref = ort.InferenceSession(str(src)).run(None, {"x": x})[0]
    err = {k: np.abs(ort.InferenceSession(str(tmp_path / f"{k}.onnx")).run(None, {"x": x})[0] - ref).max()
           for k in ("b", "d")}
    assert 0 < err["b"] < err["d"]


def test_search_moves_sensitive_nodes_to_fp32_and_fails_past_the_cap():
    """A fake error model: the error is the sum of the INT8 nodes' costs; the search keeps the costly ones fp32."""
    cost = {"a": 0.001, "b": 0.02, "c": 0.002, "d": 0.03}
    error = lambda int8, quick: sum(cost[n] for n in int8)  # noqa: E731
    res = search(list(cost), [], error, target=0.01, max_fp32=2, budget_s=60)
    assert res.passed and sorted(res.fp32) == ["b", "d"] and sorted(res.int8) == ["a", "c"]
    assert res.calibration_max_abs_diff == pytest.approx(0.003)
    res = search(list(cost), [], error, target=0.01, max_fp32=1, budget_s=60)
    assert not res.passed and res.fp32 == ["d"] and "at most 1" in res.reason
    res = search(list(cost), ["d"], error, target=0.05, max_fp32=1, budget_s=60)  # int8_keep_fp32 honoured
    assert res.passed and res.fp32 == ["d"] and res.trials == 1
