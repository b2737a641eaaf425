"""Step 4: train and evaluate the four-head reward model (in its pod, or as a TrainJob: trainjob_nodes >= 1)."""

from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def train_reward(stage: str, dataset: Input[Dataset], contrast: Input[Dataset], reward_model: Output[Model],
                 metrics: Output[Metrics], report: Output[HTML], trainjob_nodes: int = 0,
                 trainjob_gpus_per_node: int = 0, trainjob_pvc: str = "", trainjob_image: str = "",
                 trainjob_keep: bool = False, gpu_tolerations: list = [], gpu_node_selector: dict = {}):
    """`saferlhf.reward.run_train`: safety, toxicity, hallucination risk and compliance heads, on the contrast
    step's labels when it wrote them (the policy's own answers), else the generator's."""
    from saferlhf.pipeline import component_step, trainjob_settings

    trainjob = trainjob_settings("train-reward", trainjob_nodes, trainjob_gpus_per_node, trainjob_pvc,
                                 trainjob_image, trainjob_keep, gpu_tolerations, gpu_node_selector)
    component_step(stage, "train-reward", {"dataset": dataset.path, "contrast": contrast.path,
                                           "reward_model": reward_model.path}, metrics, report.path,
                   trainjob=trainjob)
