"""Step 5: RL fine-tuning of the base policy against the reward model under a KL leash."""

from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def train_rl(stage: str, dataset: Input[Dataset], base_policy: Input[Model], reward_model: Input[Model],
             rl_policy: Output[Model], metrics: Output[Metrics], report: Output[HTML]):
    """`saferlhf.rl.run_train_rl` (weighted-sum or Lagrangian objective, adaptive KL)."""
    from saferlhf.pipeline import component_step

    component_step(stage, "train-rl", {"dataset": dataset.path, "base_policy": base_policy.path,
                                       "reward_model": reward_model.path, "rl_policy": rl_policy.path},
                   metrics, report.path)
