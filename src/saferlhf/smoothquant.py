"""SmoothQuant (Xiao et al. 2023) for the ONNX reward model, before dynamic INT8 quantization.

Dynamic quantization gives each MatMul input one scale per run, so a few outlier channels (transformer
activations have them: some hidden dimensions run 10-100x larger than the rest) leave the other channels only a
few of the 256 levels. Smoothing moves that range into the weights, exactly in fp32:

    X @ W = (X * (1/s)) @ (diag(s) @ W),   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)

For every MatMul/Attention node whose weight is an initializer, a `Mul` by 1/s is inserted on its input and the
weight's rows are scaled by s (each node gets its own Mul: in a post-LN encoder the same activation also feeds the
residual path, which must stay unscaled). max|X_j| comes from running the fp32 graph on calibration pairs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
SMOOTHED_OPS = ("MatMul", "Attention")
SCALE_RANGE = (1e-2, 1e2)  # keep s within a sane range: a dead channel (max 0) must not blow up its weight row


def _targets(graph) -> list:
    inits = {i.name for i in graph.initializer}
    return [n for n in graph.node if n.op_type in SMOOTHED_OPS and len(n.input) > 1 and n.input[1] in inits]


def activation_maxima(model_path: Path, tokenizer, prompts: list[str], responses: list[str]) -> dict[str, np.ndarray]:
    """Per-channel max |x| of every smoothed node's input over the calibration pairs, run one pair at a time (as
    the service runs them): tensor name -> (K,). `tokenizer` is the serving one (`serve.scorer.load_tokenizer`)."""
    import onnx
    import onnxruntime as ort

    from saferlhf.serve.scorer import encode_feed

    model = onnx.load(str(model_path))
    names = sorted({n.input[0] for n in _targets(model.graph)})
    for name in names:  # expose the intermediate tensors as graph outputs
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep the tensors as they are
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    maxima: dict[str, np.ndarray] = {}
    for p, r in zip(prompts, responses):
        for name, value in zip(names, session.run(names, encode_feed(tokenizer, [p], [r], inputs))):  # (1, T, K)
            m = np.abs(value).reshape(-1, value.shape[-1]).max(0)
            maxima[name] = np.maximum(maxima[name], m) if name in maxima else m
    return maxima


def smooth(src: Path, dst: Path, maxima: dict[str, np.ndarray], alpha: float) -> int:
    """Write the smoothed fp32 graph to `dst` (same outputs up to float rounding); returns the nodes smoothed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    done = 0
    for k, node in enumerate(_targets(graph)):
        x = node.input[0]
        if x not in maxima:
            continue
        w = numpy_helper.to_array(inits[node.input[1]])  # (K, N): MatMul B, or Attention's packed QKV weight
        a = np.maximum(maxima[x], 1e-5)
        s = np.clip(a ** alpha / np.maximum(np.abs(w).max(1), 1e-5) ** (1 - alpha), *SCALE_RANGE).astype(np.float32)
        inits[node.input[1]].CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(w.dtype), node.input[1]))
        scale, out = f"{node.name}_smooth_scale_{k}", f"{x}_smoothed_{k}"
        graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), scale))
        graph.node.insert(list(graph.node).index(node), onnx.helper.make_node("Mul", [x, scale], [out],
                                                                               name=f"{node.name}_smooth_{k}"))
        node.input[0] = out
        done += 1
    onnx.save(model, str(dst))
    log.info("SmoothQuant (alpha %.2f): %d nodes smoothed", alpha, done)
    return done


def smooth_for_int8(src: Path, dst: Path, tokenizer, prompts: list[str], responses: list[str], alpha: float) -> int:
    """Calibrate on (prompt, response) pairs, then smooth."""
    return smooth(src, dst, activation_maxima(src, tokenizer, prompts, responses), alpha)
