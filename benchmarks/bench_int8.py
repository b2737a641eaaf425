"""INT8 across retrains: export each reward model with INT8 and collect what docs/int8.md tabulates
-> outputs/bench/int8.json.

    python benchmarks/bench_int8.py --root /tmp/r18-seed0 --root /tmp/r18-seed1 --root /tmp/r18-seed2 \
        [--override '{"int8_keep_fp32": ["layer\\\\.\\\\d+/output/dense"]}']

Each --root is an output root (`saferlhf --output-root R data generate` + `reward train`): its data and its
reward model. The bundle is written to the model's onnx/ folder, as `make demo` does."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

KEYS = ("usable", "reason", "max_abs_diff", "rank_agreement", "encoder_int8_nodes", "encoder_weight_nodes",
        "weight_flops_int8_share", "fp32_nodes", "search", "bytes", "method", "speed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", action="append", required=True, help="output root holding data/ and models/")
    ap.add_argument("--override", default="{}", help="ExportConfig fields as JSON (e.g. int8_smoothing_alpha)")
    ap.add_argument("--out", default="outputs/bench/int8.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from saferlhf.artifacts import Layout
    from saferlhf.config import ExportConfig
    from saferlhf.io import write_json
    from saferlhf.onnx_export import run_export

    cfg = ExportConfig(quantize="int8", **json.loads(args.override))
    rows = []
    for root in args.root:
        t0 = time.perf_counter()
        report = run_export(cfg, Layout(Path(root)))
        rows.append({"root": root, "export_seconds": round(time.perf_counter() - t0, 1),
                     **{k: (report.int8 or {}).get(k) for k in KEYS}})
        print(json.dumps(rows[-1]), flush=True)
    write_json(args.out, {"config": cfg.model_dump(), "models": rows,
                          "all_usable": all(r["usable"] for r in rows)})


if __name__ == "__main__":
    main()
