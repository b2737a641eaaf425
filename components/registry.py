"""Step 8: the promotion gate on the evaluation, probe and (when run) benchmark results, then registration in MLflow;
only the branch where the gates pass promotes to `champion`."""

from typing import List, NamedTuple

from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from components._common import component


@component
def promotion_gate(stage: str, assessments: Input[List[Artifact]], reward_model: Input[Model],
                   evaluation: Output[Artifact], probes_report: Output[Artifact], benchmarks: Output[Artifact],
                   decision: Output[Markdown],
                   metrics: Output[Metrics]) -> NamedTuple("Gate", [("passed", bool), ("reason", str)]):
    """Gather the fanned-out assessments into typed outputs and apply the registry's absolute gates (the benchmark
    gate on `benchmarks` when that assessment ran; without it, `benchmarks` holds only a not-run note)."""
    from collections import namedtuple

    from saferlhf.pipeline import gate_step

    outputs = {"evaluate": evaluation.path, "probe": probes_report.path, "benchmark": benchmarks.path}
    result = gate_step(stage, [(a.metadata.get("assessment", ""), a.path) for a in assessments],
                       reward_model.path, outputs, decision.path, metrics)
    return namedtuple("Gate", ["passed", "reason"])(result["passed"], result["reason"])


@component
def register(stage: str, promote: bool, dataset: Input[Dataset], reward_model: Input[Model],
             reward_onnx: Input[Model], base_policy: Input[Model], rl_policy: Input[Model],
             evaluation: Input[Artifact], probes_report: Input[Artifact], benchmarks: Input[Artifact],
             decision: Input[Markdown], registration: Output[Markdown], metrics: Output[Metrics]):
    """`saferlhf.registry.run_register`: new versions of the reward, ONNX and policy models; `promote` is the
    gate's verdict (the registry still compares against the current champion before moving the alias, and reads
    the benchmark report in `benchmarks` when there is one)."""
    from saferlhf.pipeline import register_step

    register_step(stage, promote, {"dataset": dataset.path, "reward_model": reward_model.path,
                                   "reward_onnx": reward_onnx.path, "base_policy": base_policy.path,
                                   "rl_policy": rl_policy.path, "evaluation": evaluation.path,
                                   "probes_report": probes_report.path, "benchmarks": benchmarks.path}, decision.path,
                  registration.path, metrics)
