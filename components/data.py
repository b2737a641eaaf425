"""Step 1: generate the safety dataset (prompts.json, safety_labels.csv); step 3: the base policy's own labelled
answers (RLCD) for the reward model."""

from kfp.dsl import Dataset, Input, Markdown, Metrics, Model, Output

from components._common import component


@component
def generate_data(stage: str, dataset: Output[Dataset], metrics: Output[Metrics], report: Output[Markdown]):
    """`saferlhf.data.run_generate` into the `dataset` folder."""
    from saferlhf.pipeline import component_step

    component_step(stage, "generate-data", {"dataset": dataset.path}, metrics, report.path, fmt="md")


@component
def contrast_data(stage: str, dataset: Input[Dataset], base_policy: Input[Model], contrast: Output[Dataset],
                  metrics: Output[Metrics], report: Output[Markdown]):
    """`saferlhf.policy.generate.run_contrast` into the `contrast` folder (only its report when contrast.enabled
    is off)."""
    from saferlhf.pipeline import component_step

    component_step(stage, "contrast-data", {"dataset": dataset.path, "base_policy": base_policy.path,
                                            "contrast": contrast.path}, metrics, report.path, fmt="md")
