"""The SafeRLHF pipeline: data -> base policy -> its own labelled answers (off by default) -> reward model -> RL ->
evaluate + probe (+ external benchmarks where configured) -> ONNX export -> promotion gate -> register. Compile
with `saferlhf pipeline compile`; run locally with `saferlhf pipeline run` (kfp.local) or on Kubeflow with
`saferlhf pipeline submit`."""

from pathlib import Path
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Markdown, Model

import saferlhf
from saferlhf.stages import ASSESS_PARALLELISM
from components._common import BASE_IMAGE, GPU_IMAGE, configure
from components.assess import assess_policies, plan_assessments
from components.config import resolve_config
from components.data import contrast_data, generate_data
from components.onnx_export import export_onnx
from components.policy import init_policy
from components.registry import promotion_gate, register
from components.reward import train_reward
from components.rl import train_rl
from pipelines import platform
from saferlhf.pipeline.platform import GPU_NODE_SELECTOR, GPU_TOLERATIONS

PIPELINE_NAME = "saferlhf"
COMPILED = Path(__file__).with_name("saferlhf_pipeline.yaml")

# The default image of a TrainJob's nodes: the training steps' own (the CUDA image when compiled with one).
TRAINJOB_IMAGE = GPU_IMAGE or BASE_IMAGE

Outputs = NamedTuple("Outputs", [("dataset", Dataset), ("base_policy", Model), ("contrast", Dataset),
                                 ("reward_model", Model),
                                 ("rl_policy", Model), ("reward_onnx", Model), ("evaluation", Artifact),
                                 ("probes_report", Artifact), ("benchmarks", Artifact), ("promotion", Markdown)])



def _training(cfg, dataset, base_policy, contrast, gpus=None, trainjob: dict | None = None):
    """4. the reward model, on the generator's labels plus the policy's own when the contrast step wrote them;
    5. RL under a KL leash. In their pods (taking `gpus`), or with `trainjob` (the trainjob_* parameters) each as
    a TrainJob: then the step only launches and waits (small pod, no GPUs), mounts the shared PVC, and is not
    retried (a failed TrainJob has used its runtime's own restarts; a KFP retry would run all its nodes again)."""
    def place(task, step):
        if trainjob is None:
            return configure(task, step, gpus=gpus)
        platform.mount_trainjob_volume(configure(task, "trainjob-launch", retry=False), trainjob["trainjob_pvc"])
        return task

    extra = trainjob or {}
    reward = place(train_reward(stage=cfg["reward"], dataset=dataset, contrast=contrast, **extra), "train-reward")
    rl = place(train_rl(stage=cfg["rl"], dataset=dataset, base_policy=base_policy,
                        reward_model=reward.outputs["reward_model"], **extra), "train-rl")
    return reward, rl


@dsl.pipeline(name=PIPELINE_NAME, description="Safety RLHF: multi-signal reward model, KL-leashed RL, "
                                               "evaluation and safety probes, ONNX export, gated promotion.")
def saferlhf_pipeline(config: str = "demo", overrides: dict = {}, code_version: str = saferlhf.__version__,
                      seed: int = -1, reward_epochs: int = 0, policy_epochs: int = 0, rl_steps: int = 0,
                      objective: str = "", target_kl: float = 0.0, min_unsafe_reduction: float = -1.0,
                      max_over_refusal_increase: float = -1.0, max_probe_risk: float = -1.0,
                      gpus: int = 0, gpu_tolerations: list = GPU_TOLERATIONS,
                      gpu_node_selector: dict = GPU_NODE_SELECTOR, trainjob_nodes: int = 0,
                      trainjob_gpus_per_node: int = 0, trainjob_pvc: str = "", trainjob_image: str = TRAINJOB_IMAGE,
                      trainjob_keep: bool = False) -> Outputs:
    """Args:
        config: config name (configs/<name>.yaml in the image), a YAML path, or the YAML text itself.
        overrides: {section: {field: value}} applied on top of the config.
        code_version: part of every step's cache key (the image tag on a cluster; a source hash locally).
        seed: seed of every stage (-1: each section's own).
        reward_epochs: reward-model epochs (0: from the config).
        policy_epochs: base-policy epochs (0: from the config).
        rl_steps: RL optimisation steps (0: from the config).
        objective: RL objective, weighted or lagrangian ("": from the config).
        target_kl: adaptive-KL target in nats/token (0: from the config).
        min_unsafe_reduction: gate, least relative cut in unsafe outputs (-1: from the config).
        max_over_refusal_increase: gate, most over-refusal rise, absolute (-1: from the config).
        max_probe_risk: gate, highest RL overall probe risk (-1: from the config).
        gpus: GPUs for the reward-model and RL steps (0: CPU only).
        gpu_tolerations: tolerations of the GPU steps when gpus > 0, key[=value]:effect or mappings.
        gpu_node_selector: node labels the GPU steps require when gpus > 0 (default: none).
        trainjob_nodes: 0 = the reward-model and RL steps train in their own pods; N >= 1 = each runs as a Kubeflow
            Trainer TrainJob of N nodes (needs trainjob_pvc).
        trainjob_gpus_per_node: GPUs (= torchrun processes) per TrainJob node (0: one CPU process per node).
        trainjob_pvc: ReadWriteMany PVC in the run's namespace that the step and its TrainJob's nodes share.
        trainjob_image: image of the TrainJob's nodes (saferlhf-gpu:<version> for GPUs).
        trainjob_keep: keep each finished TrainJob and, after a failure, its folder on the PVC (default: delete).
    """
    cfg = configure(resolve_config(
        config=config, overrides=overrides, code_version=code_version, seed=seed, reward_epochs=reward_epochs,
        policy_epochs=policy_epochs, rl_steps=rl_steps, objective=objective, target_kl=target_kl,
        min_unsafe_reduction=min_unsafe_reduction, max_over_refusal_increase=max_over_refusal_increase,
        max_probe_risk=max_probe_risk, trainjob_nodes=trainjob_nodes, trainjob_gpus_per_node=trainjob_gpus_per_node,
        trainjob_pvc=trainjob_pvc, trainjob_image=trainjob_image), "resolve-config").outputs

    # 1. data
    data = configure(generate_data(stage=cfg["data"]), "generate-data")
    dataset = data.outputs["dataset"]
    # 2. base policy
    base = configure(init_policy(stage=cfg["policy"], dataset=dataset), "init-policy")
    base_policy = base.outputs["base_policy"]
    # 3. the base policy's own answers, labelled by contrastive prompting (RLCD; contrast.enabled, else a report)
    contrast = configure(contrast_data(stage=cfg["contrast"], dataset=dataset, base_policy=base_policy),
                         "contrast-data").outputs["contrast"]
    # 4.-5. reward model, then RL, in their own pods or as TrainJobs. Two variants of the pair in a dsl.If/Else on
    # trainjob_nodes, not one task with an optional mount: kfp-kubernetes mounts a PVC named by a parameter on
    # every run, and KFP's driver fails a pod whose claim name is empty (the in-pod default trainjob_pvc ""). The
    # in-pod pair comes first so its tasks keep the plain names (train-reward, train-rl). kfp.local builds the
    # in-pod pair alone (platform.Platform.trainjob).
    if not platform.current().trainjob:
        reward, rl = _training(cfg, dataset, base_policy, contrast, gpus=gpus)
        reward_model, rl_policy = reward.outputs["reward_model"], rl.outputs["rl_policy"]
    else:
        with dsl.If(trainjob_nodes < 1, "in-pod-training"):
            pod_reward, pod_rl = _training(cfg, dataset, base_policy, contrast, gpus=gpus)
        with dsl.Else("trainjob-training"):
            job_reward, job_rl = _training(cfg, dataset, base_policy, contrast, trainjob=dict(
                trainjob_nodes=trainjob_nodes, trainjob_gpus_per_node=trainjob_gpus_per_node,
                trainjob_pvc=trainjob_pvc, trainjob_image=trainjob_image, trainjob_keep=trainjob_keep,
                gpu_tolerations=gpu_tolerations, gpu_node_selector=gpu_node_selector))
        reward_model = dsl.OneOf(pod_reward.outputs["reward_model"], job_reward.outputs["reward_model"])
        rl_policy = dsl.OneOf(pod_rl.outputs["rl_policy"], job_rl.outputs["rl_policy"])
    # 6. evaluation, probes and (only where `benchmark.files` lists files) external benchmarks of base vs RL,
    # fanned out (one pod each on a cluster, ASSESS_PARALLELISM processes at a time locally)
    plan = configure(plan_assessments(evaluate_stage=cfg["evaluate"], probe_stage=cfg["probe"],
                                      benchmark_stage=cfg["benchmark"]), "plan-assessments")
    with dsl.ParallelFor(plan.output, parallelism=ASSESS_PARALLELISM) as item:
        assess = configure(assess_policies(
            assessment=item.assessment, stage=item.stage, dataset=dataset, base_policy=base_policy,
            rl_policy=rl_policy, reward_model=reward_model), "assess-policies")
    # 7. ONNX export of the reward model for the scoring endpoint
    onnx = configure(export_onnx(stage=cfg["export"], dataset=dataset, reward_model=reward_model), "export-onnx")
    # 8. promotion gate, then registration; only the passing branch may promote to `champion`
    gate = configure(promotion_gate(stage=cfg["registry"], assessments=dsl.Collected(assess.outputs["results"]),
                                    reward_model=reward_model), "promotion-gate")
    artifacts = dict(dataset=dataset, reward_model=reward_model, reward_onnx=onnx.outputs["reward_onnx"],
                     base_policy=base_policy, rl_policy=rl_policy, evaluation=gate.outputs["evaluation"],
                     probes_report=gate.outputs["probes_report"], benchmarks=gate.outputs["benchmarks"],
                     decision=gate.outputs["decision"])
    with dsl.If(gate.outputs["passed"] == True, "gates-passed"):  # noqa: E712 - a pipeline expression, not Python
        configure(register(stage=cfg["registry"], promote=True, **artifacts), "register")
    with dsl.Else("gates-failed"):
        configure(register(stage=cfg["registry"], promote=False, **artifacts), "register")
    # Kubernetes: MLflow env from the namespace's ConfigMap/Secret, security context, GPU placement (every task)
    platform.apply(gpus=gpus, gpu_tolerations=gpu_tolerations, gpu_node_selector=gpu_node_selector)
    return Outputs(dataset=dataset, base_policy=base_policy, contrast=contrast, reward_model=reward_model,
                   rl_policy=rl_policy, reward_onnx=onnx.outputs["reward_onnx"], evaluation=gate.outputs["evaluation"],
                   probes_report=gate.outputs["probes_report"], benchmarks=gate.outputs["benchmarks"],
                   promotion=gate.outputs["decision"])
