"""Step 6: assess the base and RL policies: evaluate, probe and, where `benchmark.files` lists files, the external
safety benchmarks. The pipeline fans this out with `dsl.ParallelFor` over the planned assessments: a ParallelFor
body runs the same task for every item, so one component serves all of them, picking the stage's run function by
the item; each item carries its own config section, so each assessment's cache key depends only on its own section.
`assess_policies` runs any of them by name (component_step looks the stage up in saferlhf.stages); its source,
part of every item's cache key, is left as it was before the benchmark item, so evaluate and probe keep theirs."""

from typing import List

from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from components._common import component


@component
def plan_assessments(evaluate_stage: str, probe_stage: str, benchmark_stage: str) -> List[dict]:
    """The fan-out's items: [{"assessment": name, "stage": its config section}] for evaluate, probe and, only when
    the `benchmark` section lists files, benchmark (`saferlhf.benchmarks.run.run_benchmark` -> benchmarks/). Its
    files are read by the benchmark item's own pod: under kfp.local local paths (relative to where `saferlhf
    pipeline run` runs, checked by resolve-config); on a cluster they must exist in the image (relative to its
    working directory) or on a volume mounted into that pod, at the path the config gives."""
    from saferlhf.pipeline import assessment_plan

    return assessment_plan({"evaluate": evaluate_stage, "probe": probe_stage, "benchmark": benchmark_stage})


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
