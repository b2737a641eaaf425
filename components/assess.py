"""Step 6: evaluate and probe the base and RL policies. The pipeline fans this out with `dsl.ParallelFor` over
the assessments (`evaluate`, `probe`): a ParallelFor body runs the same task for every item, so one component
serves both, picking the stage's run function by the item; each item carries its own config section, so each
assessment's cache key depends only on its own section."""

from typing import List

from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def plan_assessments(evaluate_stage: str, probe_stage: str) -> List[dict]:
    """The fan-out's items: [{"assessment": name, "stage": its config section}]."""
    return [{"assessment": "evaluate", "stage": evaluate_stage}, {"assessment": "probe", "stage": probe_stage}]


@component
def assess_policies(assessment: str, stage: str, dataset: Input[Dataset], base_policy: Input[Model],
                    rl_policy: Input[Model], reward_model: Input[Model], results: Output[Artifact],
                    metrics: Output[Metrics], report: Output[HTML]):
    """`saferlhf.evaluate.run_evaluate` (-> evaluation_results/) or `saferlhf.probes.run_probe`
    (-> probes_report.json), by `assessment`."""
    from saferlhf.pipeline import component_step

    component_step(stage, assessment, {"dataset": dataset.path, "base_policy": base_policy.path,
                                       "rl_policy": rl_policy.path, "reward_model": reward_model.path,
                                       "results": results.path}, metrics, report.path)
    results.metadata["assessment"] = assessment
