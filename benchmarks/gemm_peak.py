"""This CPU's fp32 and INT8 GEMM throughput in ONNX Runtime at the encoder's matrix shapes (the limit the serving
benchmark compares each backend with). `python benchmarks/gemm_peak.py --tokens 68` prints JSON.

One item of the MiniLM encoder (hidden 384, FFN 1536, 6 layers) is, per layer, four weight GEMMs with M = T tokens:
QKV (384 -> 1152), attention output (384 -> 384), FFN in (384 -> 1536), FFN out (1536 -> 384). Each shape is one
MatMul graph with a constant weight; its INT8 twins are the same graph through `saferlhf.quantize.quantize` with
each method (dynamic: DynamicQuantizeMatMul; blockwise: MatMulNBits 8-bit), the kernels the served INT8 model runs.
(The blockwise model's QKV is three 384 -> 384 MatMuls, not one 384 -> 1152: same FLOPs, measured as one here.)
Runs are single-threaded like the service's (one run per core); the all-core figure runs one per core at once."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ENCODER_SHAPES = ((384, 1152), (384, 384), (384, 1536), (1536, 384))  # (K, N) of one layer's weight GEMMs


def _matmul_graph(path: Path, k: int, n: int) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((k, n)).astype(np.float32) * 0.05
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="gemm")], "gemm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])],
                          [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _session(path: Path):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def _time(sessions: list, x: list[np.ndarray], seconds: float, workers: int) -> float:
    """Seconds per pass over every shape for one worker, the best of repeated passes. One worker: its thread's CPU
    time (a shared machine's other load does not count); several at once: wall time, the slowest of them."""
    clock = time.thread_time if workers == 1 else time.perf_counter

    def one_pass() -> float:
        t0 = clock()
        for s, xi in zip(sessions, x):
            s.run(None, {"x": xi})
        return clock() - t0

    one_pass()  # warm-up (kernel packing, allocations)
    best, end = float("inf"), time.perf_counter() + seconds
    if workers == 1:  # in this thread: ORT runs a single-threaded session in the caller's thread
        while time.perf_counter() < end:
            best = min(best, one_pass())
        return best
    with ThreadPoolExecutor(workers) as pool:
        while time.perf_counter() < end:
            best = min(best, max(pool.map(lambda _: one_pass(), range(workers))))  # concurrent passes
    return best


def measure(tokens: int, threads: int, seconds: float = 2.0, method: str = "blockwise") -> dict:
    """GFLOP/s of one core and of `threads` cores at once, fp32 and both INT8 methods (saferlhf.quantize: dynamic
    = DynamicQuantizeMatMul, blockwise = MatMulNBits 8-bit), over the encoder's four GEMM shapes; `int8` is the
    served `method`'s figure, the peak the served INT8 model is compared with."""
    from saferlhf.quantize import quantize

    flops = sum(2.0 * tokens * k * n for k, n in ENCODER_SHAPES)  # one pass = one layer's weight GEMMs
    x = [np.random.default_rng(1).standard_normal((tokens, k)).astype(np.float32) for k, _ in ENCODER_SHAPES]
    out: dict = {"tokens": tokens, "shapes_kn": [list(s) for s in ENCODER_SHAPES], "threads": threads,
                 "int8_method": method}
    with tempfile.TemporaryDirectory() as tmp:
        paths: dict[str, list[Path]] = {"fp32": [], "int8_dynamic": [], "int8_blockwise": []}
        for k, n in ENCODER_SHAPES:
            fp32 = Path(tmp) / f"{k}x{n}.onnx"
            _matmul_graph(fp32, k, n)
            paths["fp32"].append(fp32)
            for m in ("dynamic", "blockwise"):
                quantize(fp32, Path(tmp) / f"{k}x{n}.{m}.onnx", ["gemm"], method=m)
                paths[f"int8_{m}"].append(Path(tmp) / f"{k}x{n}.{m}.onnx")
        for precision, files in paths.items():
            sessions = [_session(p) for p in files]
            one = _time(sessions, x, seconds, 1)
            many = _time(sessions, x, seconds, threads) if threads > 1 else one
            out[precision] = {"gflops_one_core": round(flops / one / 1e9, 1),
                              "gflops_all_cores": round(threads * flops / many / 1e9, 1)}
    out["int8"] = out[f"int8_{method}"]
    for m in ("dynamic", "blockwise"):
        out[f"int8_{m}_vs_fp32_one_core"] = round(out[f"int8_{m}"]["gflops_one_core"] / out["fp32"]["gflops_one_core"],
                                                  2)
    out["int8_vs_fp32_one_core"] = out[f"int8_{method}_vs_fp32_one_core"]
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=68, help="M: tokens per item (the test split's mean)")
    ap.add_argument("--threads", type=int, default=None, help="cores for the all-core figure (default: CPU limit)")
    ap.add_argument("--seconds", type=float, default=2.0, help="timing window per precision and core count")
    ap.add_argument("--method", choices=("blockwise", "dynamic"), default="blockwise", help="INT8 method of `int8`")
    a = ap.parse_args()
    from saferlhf.serve.scorer import cpu_limit

    print(json.dumps(measure(a.tokens, a.threads or cpu_limit(), a.seconds, a.method), indent=2))
