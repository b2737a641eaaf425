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
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

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
SPEED_ITEMS = 32  # parity items timed, one per run on one thread, to compare INT8 with fp32 on the exporting CPU
METHOD_NAMES = {"dynamic": "dynamic INT8 (per-channel int8 weights, per-run uint8 activations)",
                "blockwise": "blockwise INT8 (MatMulNBits 8-bit, accuracy_level 4: int8 weights and activations, "
                             "one scale per {block} channels)"}


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
    (out_dir / INT8_FILE).unlink(missing_ok=True)  # never leave an INT8 file from an older export
    if cfg.quantize == "int8":
        report["int8"] = _export_int8(cfg, layout, model_dir, out_dir, torch_scorer,
                                      (prompts, responses, ref, pairs, weights, max_length))
    # INT8 that misses its bound is reported and not written (the service then serves fp32): it fails no export
    report["passed"] = report["fp32"]["passed"]
    if (model_dir / REFERENCE_FILE).is_file():  # the bundle carries the reference of the model it came from
        atomic_write(out_dir / REFERENCE_FILE, lambda p: shutil.copyfile(model_dir / REFERENCE_FILE, p))
    result = seal_bundle(out_dir, report)
    if not result.passed:
        raise UserError(f"ONNX fp32 parity check failed: see {out_dir / EXPORT_REPORT} (the failed ONNX files were "
                        "removed)")
    if "int8" in report and not report["int8"]["passed"]:
        log.warning("INT8 failed (%s): %s not written, the scorer serves fp32", report["int8"]["reason"], INT8_FILE)
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

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            return self.model(input_ids, attention_mask, token_type_ids)

    # eager attention traces to plain MatMul/Softmax, which ORT's transformer optimizer fuses into Attention
    # (the SDPA trace is not recognised); the math is the same
    scorer.model.encoder.set_attn_implementation("eager")
    # eval() on the wrapper too: the exporter restores the wrapper's mode, which would switch dropout back on
    graph = _Graph(scorer.model).eval()
    enc = encode_pairs(scorer.tokenizer, ["a prompt", "another prompt here"], ["a response", "yes"],
                       scorer.model.cfg.max_length)
    names = [k for k in INPUTS if k in enc]  # a RoBERTa tokenizer gives no token_type_ids: the graph takes none
    args = tuple(enc[k] for k in names)
    axes = {k: {0: "batch", 1: "sequence"} for k in names} | {"scores": {0: "batch"}}
    log.info("exporting %s (opset %d)", path, opset)

    def write(tmp: Path) -> None:
        with torch.no_grad():
            torch.onnx.export(graph, args, str(tmp), input_names=names, output_names=["scores"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)

    atomic_write(path, write)
    scorer.model.eval()


def _export_int8(cfg: ExportConfig, layout: Layout, model_dir: Path, out_dir: Path, torch_scorer,
                 parity: tuple) -> dict:
    """Fuse, smooth, search the INT8 nodes on the calibration split, write model.int8.onnx only when the search
    and the parity check both pass. Returns the report's `int8` section (see saferlhf.quantize)."""
    import onnx

    from saferlhf.quantize import (METHOD_OPS, MIN_INT8_SHARE, flops_per_item, int8_share, keep_patterns, quantize,
                                   search, weight_nodes)

    prompts, responses, ref, pairs, weights, max_length = parity
    cal_p, cal_r, _ = _split_data(resolve(cfg.data_path, layout.labels), cfg.calibration_split,
                                  cfg.max_calibration_samples)
    calib = (cal_p, cal_r, torch_scorer.scores(cal_p, cal_r), max_length)
    tokenizer = load_tokenizer(out_dir / TOKENIZER_FILE, max_length)
    tokens = np.array([len(e.ids) for e in tokenizer.encode_batch(list(zip(prompts, responses)))])  # (N,) no padding
    dst = out_dir / INT8_FILE
    shape = _encoder_shape(model_dir)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        fused = _fuse_and_smooth(out_dir / FP32_FILE, Path(tmp), shape, cfg, tokenizer, calib)
        trial = Path(tmp) / "trial.onnx"
        nodes = weight_nodes(onnx.load(str(fused), load_external_data=False).graph)
        candidates = [w.name for w in nodes if w.op_type in METHOD_OPS[cfg.int8_method]]
        quick = tuple(x[:cfg.sensitivity_samples] for x in calib[:3]) + calib[3:]  # ranking needs fewer rows

        def error(int8: list[str], fast: bool) -> float:
            quantize(fused, trial, int8, cfg.int8_method, cfg.int8_block_size)
            return _calib_error(trial, out_dir, quick if fast else calib)

        res = search(candidates, keep_patterns(candidates, cfg.int8_keep_fp32), error,
                     cfg.int8_tolerance * cfg.int8_calibration_margin,
                     len(candidates) - math.ceil(MIN_INT8_SHARE * len(candidates)), cfg.int8_search_seconds)
        search_info = {"trials": res.trials, "seconds": res.seconds, "budget_seconds": cfg.int8_search_seconds,
                       "calibration_split": cfg.calibration_split, "calibration_items": len(cal_p),
                       "calibration_max_abs_diff": res.calibration_max_abs_diff, "last_tried_int8_nodes": res.int8}

        def served(int8: list[str]) -> dict:  # what the written file holds: nothing INT8 when none is written
            return {"method": METHOD_NAMES[cfg.int8_method].format(block=cfg.int8_block_size),
                    "int8_method": cfg.int8_method,
                    "smoothquant_alpha": cfg.int8_smoothing_alpha, "int8_nodes": int8,
                    "fp32_nodes": [w.name for w in nodes if w.name not in int8], **int8_share(nodes, int8, tokens),
                    "flops_per_item": flops_per_item(nodes, tokens, shape["layers"], shape["hidden"]),
                    "mean_tokens": float(tokens.mean()), "search": search_info}

        if not res.passed:
            return {**served([]), "file": None, "passed": False, "usable": False, "reason": res.reason}
        atomic_write(dst, lambda p: quantize(fused, p, res.int8, cfg.int8_method, cfg.int8_block_size))
    check = _check(dst, out_dir, max_length, prompts, responses, ref, pairs, weights, cfg.int8_tolerance,
                   cfg.min_rank_agreement)
    if not check["passed"]:
        dst.unlink()
        return {**served([]), **check, "file": None, "passed": False, "usable": False,
                "reason": f"{cfg.parity_split} split: max |delta| {check['max_abs_diff']:.4f} (bound "
                          f"{cfg.int8_tolerance}), rank agreement {check['rank_agreement']}"}
    speed = _speed(out_dir / FP32_FILE, dst, out_dir, max_length, prompts[:SPEED_ITEMS], responses[:SPEED_ITEMS])
    if speed["int8_speedup"] < 1:
        log.warning("INT8 ran at %.2fx fp32 speed on this CPU (%s): `serve --precision auto` will serve fp32",
                    speed["int8_speedup"], speed["cpu_int8_instructions"] or "no VNNI")
    return {**served(res.int8), **check, "speed": speed, "usable": True, "reason": ""}


def _fuse_and_smooth(src: Path, tmp: Path, shape: dict, cfg: ExportConfig, tokenizer, calib: tuple) -> Path:
    """Transformer graph fusion (attention, GELU, layer norm), then SmoothQuant on the calibration split."""
    from onnxruntime.transformers.optimizer import optimize_model

    from onnxruntime.transformers.fusion_options import FusionOptions

    fused = tmp / "fused.onnx"
    options = FusionOptions("bert")
    # MatMulNBits has no attention twin of QAttention: unfused, Q, K and V are three MatMuls it can take
    options.enable_attention = cfg.int8_method == "dynamic"
    opt = optimize_model(str(src), model_type="bert", num_heads=shape["heads"], hidden_size=shape["hidden"], opt_level=1,
                         optimization_options=options)
    log.info("fused operators: %s", {k: v for k, v in opt.get_fused_operator_statistics().items() if v})
    opt.save_model_to_file(str(fused))
    if cfg.int8_smoothing_alpha > 0:
        from saferlhf.smoothquant import smooth_for_int8

        smooth_for_int8(fused, fused, tokenizer, calib[0][:SMOOTHING_SAMPLES], calib[1][:SMOOTHING_SAMPLES],
                        cfg.int8_smoothing_alpha)
    return fused


def _speed(fp32: Path, int8: Path, bundle: Path, max_length: int, prompts: list[str], responses: list[str]) -> dict:
    """ms per item of both files on this CPU: one item per run, one thread (as the service runs them), the two
    files interleaved and the best of three passes kept, so load on a shared machine skews both alike."""
    import time

    scorers = {k: OnnxScorer(p, bundle / TOKENIZER_FILE, max_length, threads=1, chunk_size=1)
               for k, p in (("fp32", fp32), ("int8", int8))}
    best = {k: math.inf for k in scorers}
    for s in scorers.values():
        s.scores(prompts[:4], responses[:4])  # warm-up: first-run allocations
    for _ in range(3):
        for k, s in scorers.items():
            t0 = time.perf_counter()
            s.scores(prompts, responses)
            best[k] = min(best[k], (time.perf_counter() - t0) * 1e3 / len(prompts))
    return {"fp32_ms_per_item": round(best["fp32"], 3), "int8_ms_per_item": round(best["int8"], 3),
            "int8_speedup": round(best["fp32"] / best["int8"], 3), "items": len(prompts),
            "cpu_int8_instructions": _cpu_int8_flags()}


def _cpu_int8_flags() -> str:
    """The x86 int8 dot-product extensions this CPU has ('' when none, or not Linux): without VNNI an int8 GEMM
    runs at about fp32 speed (AVX2 has no int8 multiply-accumulate; see docs/int8.md)."""
    try:
        flags = next((ln.split(":", 1)[1].split() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                      if ln.startswith("flags")), [])
    except OSError:
        return ""
    return " ".join(f for f in ("avx512_vnni", "avx_vnni", "amx_int8") if f in flags)


def _calib_error(onnx_path: Path, bundle: Path, calib: tuple) -> float:
    prompts, responses, ref, max_length = calib
    got = OnnxScorer(onnx_path, bundle / TOKENIZER_FILE, max_length, chunk_size=1).scores(prompts, responses)
    return float(np.abs(got.astype(np.float64) - ref).max())


def _encoder_shape(model_dir: Path) -> dict[str, int]:
    """heads, hidden, layers of the encoder from config.json: the optimizer's fusion shape (0 lets it read the
    graph) and what the attention-score FLOPs of an unfused graph are counted from."""
    import json

    path = model_dir / "config.json"
    c = json.loads(path.read_text()) if path.is_file() else {}
    return {"heads": int(c.get("num_attention_heads", 0)), "hidden": int(c.get("hidden_size", 0)),
            "layers": int(c.get("num_hidden_layers", 0))}


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
