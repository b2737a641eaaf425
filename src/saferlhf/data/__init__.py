"""Dataset stage: generate the seed-scale safety dataset; load and validate user files."""

from __future__ import annotations

import logging
from pathlib import Path

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import DataConfig
from saferlhf.results import DataResult

log = logging.getLogger(__name__)


SUMMARY_FILE = "dataset_summary.json"


def run_generate(cfg: DataConfig, layout: Layout) -> DataResult:
    """`saferlhf data generate`: write prompts.json, safety_labels.csv and the summary (dataset_summary.json)."""
    from saferlhf.data.generate import generate, summarize, write_dataset
    from saferlhf.io import write_json

    out_dir = resolve(cfg.output_dir, layout.data_dir)
    prompts, df = generate(cfg)
    prompts_path, labels_path = write_dataset(prompts, df, Path(out_dir))
    result = DataResult(**summarize(df), prompts_path=str(prompts_path), labels_path=str(labels_path))
    write_json(Path(out_dir) / SUMMARY_FILE, result.model_dump(mode="json"))
    log.info("dataset: %d prompts, %d responses -> %s", result.prompts, result.responses, out_dir)
    return result
