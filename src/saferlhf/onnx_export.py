"""`saferlhf reward export-onnx`: the reward model as ONNX (fp32, optionally INT8), parity-checked.

The bundle folder (default <reward_model>/onnx) holds everything the torch-free service needs:
model.onnx, model.int8.onnx, tokenizer.json, reward_config.json, the model's drift reference
reference_scores.parquet, export_report.json and manifest.json (sha256 of each served file; written only when
parity passes, and a failed export removes its ONNX files, so it can be neither served nor registered).
Parity is measured
end to end through the serving path (`tokenizers` + ONNX Runtime) against the PyTorch model on the test split,
so a tokenizer mismatch fails the export just like a graph mismatch."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import ExportConfig
from saferlhf.errors import UserError
from saferlhf.io import atomic_write, file_sha256, write_json
from saferlhf.results import ExportResult
from saferlhf.serve.bundle import (EXPORT_REPORT, FP32_FILE, INT8_FILE, MANIFEST_FILE, REFERENCE_FILE,
                                   REWARD_CONFIG_FILE, TOKENIZER_FILE, write_manifest)
from saferlhf.serve.scorer import OnnxScorer, load_tokenizer
from saferlhf.signals import SIGNALS, combined_reward

log = logging.getLogger(__name__)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
SMOOTHING_SAMPLES = 128  # calibration pairs whose activation ranges set the SmoothQuant scales


def run_export(cfg: ExportConfig, layout: Layout) -> ExportResult:
    """Export, (optionally) quantize, check parity; write export_report.json; fail if a bound is broken."""
    from saferlhf.reward.model import RewardScorer

    model_dir = resolve(cfg.model_path, layout.reward_model)
    out_dir = resolve(cfg.output_dir, model_dir / "onnx")
    prompts, responses, pairs = _split_data(resolve(cfg.data_path, layout.labels), cfg.parity_split,
                                            cfg.max_parity_samples)
    torch_scorer = RewardScorer(model_dir, batch_size=cfg.batch_size)
    max_length = torch_scorer.model.cfg.max_length
    _export_fp32(torch_scorer, out_dir / FP32_FILE, cfg.opset)
    atomic_write(out_dir / TOKENIZER_FILE, lambda p: shutil.copyfile(model_dir / TOKENIZER_FILE, p))
    write_json(out_dir / REWARD_CONFIG_FILE, {"max_length": max_length, "signals": list(SIGNALS),
                                              "weights": list(torch_scorer.weights), "opset": cfg.opset})
    log.info("PyTorch reference scores on %d %s pairs", len(prompts), cfg.parity_split)
    ref = torch_scorer.scores(prompts, responses)  # (N, 4)
    weights = torch_scorer.weights
    report = {"model_path": str(model_dir), "output_dir": str(out_dir), "opset": cfg.opset,
              "parity_split": cfg.parity_split, "n_items": len(prompts), "n_rank_pairs": len(pairs),
              "fp32": _check(out_dir / FP32_FILE, out_dir, max_length, prompts, responses, ref, pairs, weights,
                             cfg.fp32_tolerance, None)}
    if cfg.quantize == "int8":
        cal_p, cal_r, _ = _split_data(resolve(cfg.data_path, layout.labels), cfg.calibration_split,
                                      cfg.max_calibration_samples)
        calib = (cal_p, cal_r, torch_scorer.scores(cal_p, cal_r), max_length)
        excluded = _quantize_int8(out_dir / FP32_FILE, out_dir / INT8_FILE, cfg, model_dir, calib)
        report["int8"] = _check(out_dir / INT8_FILE, out_dir, max_length, prompts, responses, ref, pairs, weights,
                                cfg.int8_tolerance, cfg.min_rank_agreement)
        report["int8"]["fp32_nodes"] = excluded
    else:  # never leave an INT8 file from an older export next to a new fp32 model
        (out_dir / INT8_FILE).unlink(missing_ok=True)
    report["passed"] = all(report[k]["passed"] for k in ("fp32", "int8") if k in report)
    if (model_dir / REFERENCE_FILE).is_file():  # the bundle carries the reference of the model it came from
        atomic_write(out_dir / REFERENCE_FILE, lambda p: shutil.copyfile(model_dir / REFERENCE_FILE, p))
    result = seal_bundle(out_dir, report)
    if not result.passed:
        broken = [k for k in ("fp32", "int8") if k in report and not report[k]["passed"]]
        raise UserError(f"ONNX parity check failed for {', '.join(broken)}: see {out_dir / EXPORT_REPORT} "
                        "(the failed ONNX files were removed)")
    return result


def seal_bundle(out_dir: Path, report: dict) -> ExportResult:
    """Finish an export: when `report["passed"]`, manifest.json over the bundle's files (its hashes also in the
    report); otherwise remove the ONNX files and any old manifest. export_report.json is written either way."""
    if report["passed"]:
        report["manifest"] = write_manifest(out_dir)
    else:
        for name in (FP32_FILE, INT8_FILE, MANIFEST_FILE):
            (out_dir / name).unlink(missing_ok=True)
    result = ExportResult.model_validate(report)
    write_json(out_dir / EXPORT_REPORT, result.model_dump(mode="json"))
    return result


def _split_data(labels_path: Path, split: str, limit: int | None
                ) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """Prompts/responses of one split and its (safe, unsafe) index pairs that share a prompt."""
    from saferlhf.data.loader import load_labels

    df = load_labels(labels_path)
    df = df[df["split"] == split].reset_index(drop=True)
    if limit:
        df = df.iloc[:limit]
    if df.empty:
        raise UserError(f"{labels_path}: no rows in split {split!r} to check parity on")
    pairs = []
    for _, g in df.groupby("prompt_id"):
        safe = g.index[g["response_type"] == "safe"]
        unsafe = g.index[g["response_type"] == "unsafe"]
        pairs += [(int(s), int(u)) for s in safe for u in unsafe]
    return df["prompt"].astype(str).tolist(), df["response"].astype(str).tolist(), pairs


def _export_fp32(scorer, path: Path, opset: int) -> None:
    """torch.onnx (TorchScript exporter) with dynamic batch and sequence axes; output `scores` (B, 4)."""
    import torch

    from saferlhf.reward.model import encode_pairs

    class _Graph(torch.nn.Module):  # fixed positional input order for the exporter
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids, attention_mask, token_type_ids)

    # eager attention traces to plain MatMul/Softmax, which ORT's transformer optimizer fuses into Attention
    # (the SDPA trace is not recognised); the math is the same
    scorer.model.encoder.set_attn_implementation("eager")
    # eval() on the wrapper too: the exporter restores the wrapper's mode, which would switch dropout back on
    graph = _Graph(scorer.model).eval()
    enc = encode_pairs(scorer.tokenizer, ["a prompt", "another prompt here"], ["a response", "yes"],
                       scorer.model.cfg.max_length)
    args = tuple(enc[k] for k in INPUTS)
    axes = {k: {0: "batch", 1: "sequence"} for k in INPUTS} | {"scores": {0: "batch"}}
    log.info("exporting %s (opset %d)", path, opset)

    def write(tmp: Path) -> None:
        with torch.no_grad():
            torch.onnx.export(graph, args, str(tmp), input_names=list(INPUTS), output_names=["scores"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)

    atomic_write(path, write)
    scorer.model.eval()


def _quantize_int8(src: Path, dst: Path, cfg: ExportConfig, model_dir: Path, calib: tuple) -> list[str]:
    """Transformer graph fusion (attention, GELU, layer norm), SmoothQuant on the calibration split, then dynamic
    INT8 quantization (per-channel weight scales, activation scales computed at run time). Mixed precision where
    needed: weight nodes matching cfg.int8_keep_fp32 stay fp32, and while the INT8 model misses the bound on the
    calibration split the most sensitive remaining node (largest error when quantized alone) is kept fp32 too.
    Returns the fp32 nodes."""
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    n_heads, hidden = _encoder_shape(model_dir)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        fused, trial = Path(tmp) / "fused.onnx", Path(tmp) / "trial.onnx"
        opt = optimize_model(str(src), model_type="bert", num_heads=n_heads, hidden_size=hidden, opt_level=1)
        log.info("fused operators: %s", {k: v for k, v in opt.get_fused_operator_statistics().items() if v})
        opt.save_model_to_file(str(fused))
        if cfg.int8_smoothing_alpha > 0:
            from saferlhf.smoothquant import smooth_for_int8

            smooth_for_int8(fused, fused, load_tokenizer(dst.parent / TOKENIZER_FILE, calib[3]),
                            calib[0][:SMOOTHING_SAMPLES], calib[1][:SMOOTHING_SAMPLES], cfg.int8_smoothing_alpha)
        graph = onnx.load(str(fused), load_external_data=False).graph
        nodes = [n.name for n in graph.node if n.op_type in ("MatMul", "Attention")]  # the heads' Gemm stay fp32
        keep = [n for n in nodes if any(re.search(p, n) for p in cfg.int8_keep_fp32)]
        target = cfg.int8_tolerance * cfg.int8_calibration_margin

        def error(exclude: list[str], include: list[str] | None = None, data: tuple = calib) -> float:
            _quantize(fused, trial, exclude, include)
            return _calib_error(trial, dst.parent, data)

        err = error(keep)
        log.info("INT8 calibration max |delta| %.4f with %d fp32 nodes (target %.4f)", err, len(keep), target)
        if err > target:
            free = [n for n in nodes if n not in keep]
            log.info("measuring the INT8 sensitivity of %d weight nodes", len(free))
            quick = tuple(x[:cfg.sensitivity_samples] for x in calib[:3]) + calib[3:]  # ranking needs fewer rows
            sens = {n: error([], [n], quick) for n in tqdm(free, desc="sensitivity", leave=False)}
            for n in sorted(free, key=sens.get, reverse=True):
                keep.append(n)
                err = error(keep)
                log.info("keep %s in fp32 -> calibration max |delta| %.4f", n, err)
                if err <= target:
                    break
        atomic_write(dst, lambda p: _quantize(fused, p, keep, None))
    return keep


def _quantize(src: Path, dst: Path, exclude: list[str], include: list[str] | None) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # the quantizer logs every tensor at INFO on the root logger
    try:
        # DefaultTensorType: the fused contrib ops defeat ONNX shape inference, their outputs are fp32
        # MatMul/Attention only: int8 embedding tables (Gather) would save size, not time, and alone moved
        # scores by ~0.02 on the demo model
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=exclude,
                         nodes_to_quantize=include,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def _calib_error(onnx_path: Path, bundle: Path, calib: tuple) -> float:
    prompts, responses, ref, max_length = calib
    got = OnnxScorer(onnx_path, bundle / TOKENIZER_FILE, max_length, chunk_size=1).scores(prompts, responses)
    return float(np.abs(got.astype(np.float64) - ref).max())


def _encoder_shape(model_dir: Path) -> tuple[int, int]:
    """(num_heads, hidden_size) of the encoder from config.json; (0, 0) lets the optimizer read the graph."""
    import json

    c = json.loads((model_dir / "config.json").read_text()) if (model_dir / "config.json").is_file() else {}
    return int(c.get("num_attention_heads", 0)), int(c.get("hidden_size", 0))


def _check(onnx_path: Path, bundle: Path, max_length: int, prompts: list[str], responses: list[str],
           ref: np.ndarray, pairs: list[tuple[int, int]], weights, tolerance: float,
           min_rank: float | None) -> dict:
    """Parity of one ONNX file through the serving path: max |Δ| per signal and safe-vs-unsafe order."""
    got = OnnxScorer(onnx_path, bundle / TOKENIZER_FILE, max_length).scores(prompts, responses)
    diff = np.abs(got.astype(np.float64) - ref)  # (N, 4)
    agree = _rank_agreement(combined_reward(ref, weights), combined_reward(got, weights), pairs)
    passed = bool(diff.max() <= tolerance) and (min_rank is None or agree is None or agree >= min_rank)
    return {"file": onnx_path.name, "sha256": file_sha256(onnx_path), "bytes": onnx_path.stat().st_size,
            "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "max_abs_diff_per_signal": dict(zip(SIGNALS, diff.max(0).round(6).tolist())),
            "tolerance": tolerance, "rank_agreement": agree, "min_rank_agreement": min_rank, "passed": passed}


def _rank_agreement(ref: np.ndarray, got: np.ndarray, pairs: list[tuple[int, int]]) -> float | None:
    """Share of (safe, unsafe) pairs whose reward order is the same for the reference and the export."""
    if not pairs:
        return None
    s, u = np.array(pairs).T
    return float(np.mean(np.sign(ref[s] - ref[u]) == np.sign(got[s] - got[u])))
