"""Step 2: the base policy (a small causal LM trained on the dataset's prompt -> response pairs)."""

from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def init_policy(stage: str, dataset: Input[Dataset], base_policy: Output[Model], metrics: Output[Metrics],
                report: Output[HTML]):
    """`saferlhf.policy.run_init` into the `base_policy` folder."""
    from saferlhf.pipeline import component_step

    component_step(stage, "init-policy", {"dataset": dataset.path, "base_policy": base_policy.path}, metrics,
                   report.path)
