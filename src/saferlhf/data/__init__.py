"""Dataset stage: generate the seed-scale safety dataset; load and validate user files."""

from __future__ import annotations

import logging
from pathlib import Path

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import DataConfig

log = logging.getLogger(__name__)


def run_generate(cfg: DataConfig, layout: Layout) -> dict:
    """`saferlhf data generate`: write prompts.json and safety_labels.csv; returns the summary."""
    from saferlhf.data.generate import generate, summarize, write_dataset

    out_dir = resolve(cfg.output_dir, layout.data_dir)
    prompts, df = generate(cfg)
    prompts_path, labels_path = write_dataset(prompts, df, Path(out_dir))
    summary = {**summarize(df), "prompts_path": str(prompts_path), "labels_path": str(labels_path)}
    log.info("dataset: %d prompts, %d responses -> %s", summary["prompts"], summary["responses"], out_dir)
    return summary
