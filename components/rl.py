"""Step 5: RL fine-tuning of the base policy against the reward model under a KL leash (in its pod, or as a TrainJob:
trainjob_nodes >= 1)."""

from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def train_rl(stage: str, dataset: Input[Dataset], base_policy: Input[Model], reward_model: Input[Model],
             rl_policy: Output[Model], metrics: Output[Metrics], report: Output[HTML], trainjob_nodes: int = 0,
             trainjob_gpus_per_node: int = 0, trainjob_pvc: str = "", trainjob_image: str = "",
             trainjob_keep: bool = False, gpu_tolerations: list = [], gpu_node_selector: dict = {}):
    """`saferlhf.rl.run_train_rl` (weighted-sum or Lagrangian objective, adaptive KL)."""
    from saferlhf.pipeline import component_step, trainjob_settings

    trainjob = trainjob_settings("train-rl", trainjob_nodes, trainjob_gpus_per_node, trainjob_pvc, trainjob_image,
                                 trainjob_keep, gpu_tolerations, gpu_node_selector)
    component_step(stage, "train-rl", {"dataset": dataset.path, "base_policy": base_policy.path,
                                       "reward_model": reward_model.path, "rl_policy": rl_policy.path},
                   metrics, report.path, trainjob=trainjob)
