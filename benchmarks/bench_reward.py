"""Reward-model acceptance benchmark: generate data and train + evaluate on a config (default configs/full.yaml);
writes outputs/bench/reward_full.json with wall times and the test-split metrics."""

from __future__ import annotations

import argparse
import logging
import platform
import time
from pathlib import Path

import torch

from saferlhf.artifacts import Layout
from saferlhf.config import load_config
from saferlhf.data import run_generate
from saferlhf.io import write_json
from saferlhf.reward import run_train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="configs/full.yaml")
    ap.add_argument("--out", default=None, help="result JSON (default: <output_root>/bench/reward_full.json)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config)
    layout = Layout(Path(cfg.output_root))
    t0 = time.time()
    data = run_generate(cfg.data, layout)
    t1 = time.time()
    m = run_train(cfg.reward, layout)
    t2 = time.time()
    result = {
        "config": args.config, "machine": {"cpus": torch.get_num_threads(), "platform": platform.platform()},
        "dataset": data.model_dump(include={"prompts", "responses", "prompts_per_split"}),
        "data_seconds": round(t1 - t0, 1), "train_seconds": round(m.train_seconds, 1),
        "train_and_eval_seconds": round(t2 - t1, 1),
        **m.model_dump(include={"pairwise_accuracy", "pairwise_pairs", "relevance_accuracy", "relevance_pairs", "mae",
                                "ece", "mae_max", "ece_max", "mc_dropout"}),
        "acceptance": {"pairwise_accuracy>=0.95": m.pairwise_accuracy >= 0.95,
                       "relevance_accuracy>=0.90": m.relevance_accuracy >= 0.90, "mae<=0.10": m.mae_max <= 0.10,
                       "ece<=0.05": m.ece_max <= 0.05, "train<=600s": m.train_seconds <= 600},
    }
    out = write_json(args.out or layout.bench / "reward_full.json", result)
    print(f"wrote {out}")
    print({k: result[k] for k in ("pairwise_accuracy", "relevance_accuracy", "mae_max", "ece_max", "train_seconds")})


if __name__ == "__main__":
    main()
