"""Mixes of ONNX Runtime's two INT8 CPU kernels on one exported reward model: parity and speed per plan.

    python benchmarks/bench_int8_mix.py --bundle outputs/models/reward_model/onnx \
        --data outputs/data/safety_labels.csv [--plans all_dynamic,ffn_out_blockwise] -> outputs/bench/int8_mix.json

Each plan quantizes the export's own INT8 input graph (transformer fusion with attention unfused, SmoothQuant on
the calibration split: `saferlhf.onnx_export._fuse_and_smooth`) with `dynamic` (DynamicQuantizeMatMul: one
activation scale per run, the fast VNNI kernel) on some encoder MatMuls and `blockwise` (MatMulNBits 8-bit: a
scale per token and 32 channels) on the others. Reference: the bundle's fp32 `model.onnx` (parity 4e-7 with
PyTorch). Errors: max |delta| over the four signals on the calibration (validation) and test splits; speed: one
item per run on one thread, thread CPU time (load on a shared machine does not count), best of three passes.
docs/int8.md has the 2026-12-07 figures and what they mean for the acceptance."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from saferlhf.config.ops import ExportConfig  # noqa: E402
from saferlhf.io import write_json  # noqa: E402
from saferlhf.onnx_export import TOKENIZER_FILE, _encoder_shape, _fuse_and_smooth, _split_data  # noqa: E402
from saferlhf.quantize import quantize, weight_nodes  # noqa: E402
from saferlhf.serve.scorer import OnnxScorer, load_tokenizer  # noqa: E402

log = logging.getLogger("bench_int8_mix")
KINDS = ("qkv", "attn_out", "ffn_in", "ffn_out")


def kind(name: str) -> str:
    """BERT-style node name -> which of a layer's weight GEMMs it is."""
    if any(f"/self/{k}/" in name for k in ("query", "key", "value")):
        return "qkv"
    return "attn_out" if "attention/output" in name else "ffn_in" if "intermediate" in name else "ffn_out"


def plans(names: list[str]) -> dict[str, list[str]]:
    """Plan name -> the nodes that go blockwise (every other encoder MatMul goes dynamic)."""
    layer = lambda n: int(n.split("layer.")[1].split("/")[0])  # noqa: E731
    out = {"all_blockwise": list(names), "all_dynamic": []}
    out |= {f"{k}_blockwise": [n for n in names if kind(n) == k] for k in KINDS}
    out["ffn_out+attn_out_blockwise"] = [n for n in names if kind(n) in ("ffn_out", "attn_out")]
    out |= {f"layer{i}_blockwise": [n for n in names if layer(n) == i] for i in sorted({layer(n) for n in names})}
    return out


def cpu_ms(scorer: OnnxScorer, prompts: list[str], responses: list[str], n: int = 40) -> float:
    scorer.scores(prompts[:5], responses[:5])  # warm-up
    best = float("inf")
    for _ in range(3):
        t = time.thread_time()
        scorer.scores(prompts[:n], responses[:n])
        best = min(best, (time.thread_time() - t) / n * 1e3)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default="outputs/models/reward_model/onnx", help="ONNX bundle from export-onnx")
    ap.add_argument("--data", default="outputs/data/safety_labels.csv", help="labelled CSV (validation, test)")
    ap.add_argument("--plans", default="", help="comma-separated plan names (default: all)")
    ap.add_argument("--out", default="outputs/bench/int8_mix.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import onnx

    bundle, data = Path(args.bundle), Path(args.data)
    max_length = json.loads((bundle / "reward_config.json").read_text()).get("max_length", 512)
    cal_p, cal_r, _ = _split_data(data, "validation", None)
    test_p, test_r, _ = _split_data(data, "test", None)

    def scorer(path: Path) -> OnnxScorer:
        return OnnxScorer(path, bundle / TOKENIZER_FILE, max_length, threads=1)

    fp32 = scorer(bundle / "model.onnx")
    cal_ref, test_ref = fp32.scores(cal_p, cal_r), fp32.scores(test_p, test_r)
    report: dict = {"bundle": str(bundle), "fp32_ms_per_item": round(cpu_ms(fp32, test_p, test_r), 2), "plans": []}
    with tempfile.TemporaryDirectory() as tmp:
        fused = _fuse_and_smooth(bundle / "model.onnx", Path(tmp), _encoder_shape(bundle.parent),
                                 ExportConfig(int8_method="blockwise"), load_tokenizer(bundle / TOKENIZER_FILE,
                                                                                      max_length),
                                 (cal_p, cal_r, cal_ref, max_length))
        names = [w.name for w in weight_nodes(onnx.load(str(fused), load_external_data=False).graph)
                 if w.op_type == "MatMul" and "encoder" in w.name]
        table = plans(names)
        for name in [p for p in args.plans.split(",") if p] or list(table):
            blockwise = table[name]
            dynamic = [n for n in names if n not in blockwise]
            mid, dst = Path(tmp) / "mid.onnx", Path(tmp) / f"{name}.onnx"
            src = fused
            if dynamic:
                quantize(fused, mid, dynamic, "dynamic")
                src = mid
            if blockwise:
                quantize(src, dst, blockwise, "blockwise")
            else:
                dst = mid
            s = scorer(dst)
            row = {"plan": name, "dynamic_nodes": len(dynamic), "blockwise_nodes": len(blockwise),
                   "calibration_max_abs_diff": round(float(np.abs(s.scores(cal_p, cal_r) - cal_ref).max()), 4),
                   "test_max_abs_diff": round(float(np.abs(s.scores(test_p, test_r) - test_ref).max()), 4),
                   "ms_per_item": round(cpu_ms(s, test_p, test_r), 2)}
            row["speedup_vs_fp32"] = round(report["fp32_ms_per_item"] / row["ms_per_item"], 2)
            log.info("%s", row)
            report["plans"].append(row)
    write_json(Path(args.out), report)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
