"""Step 4: train and evaluate the four-head reward model."""

from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def train_reward(stage: str, dataset: Input[Dataset], contrast: Input[Dataset], reward_model: Output[Model],
                 metrics: Output[Metrics], report: Output[HTML]):
    """`saferlhf.reward.run_train`: safety, toxicity, hallucination risk and compliance heads, on the contrast
    step's labels when it wrote them (the policy's own answers), else the generator's."""
    from saferlhf.pipeline import component_step

    component_step(stage, "train-reward", {"dataset": dataset.path, "contrast": contrast.path,
                                           "reward_model": reward_model.path}, metrics, report.path)
