"""Step 1: generate the safety dataset (prompts.json, safety_labels.csv)."""

from kfp.dsl import Dataset, Markdown, Metrics, Output

from components._common import component


@component
def generate_data(stage: str, dataset: Output[Dataset], metrics: Output[Metrics], report: Output[Markdown]):
    """`saferlhf.data.run_generate` into the `dataset` folder."""
    from saferlhf.pipeline import component_step

    component_step(stage, "generate-data", {"dataset": dataset.path}, metrics, report.path, fmt="md")
