"""Step 0: resolve the YAML config and the pipeline parameters into one validated config section per stage."""

from typing import NamedTuple

from components._common import component


@component
def resolve_config(config: str, overrides: dict, code_version: str, seed: int, reward_epochs: int,
                   policy_epochs: int, rl_steps: int, objective: str, target_kl: float, min_unsafe_reduction: float,
                   max_over_refusal_increase: float, max_probe_risk: float, trainjob_nodes: int = 0,
                   trainjob_gpus_per_node: int = 0, trainjob_pvc: str = "", trainjob_image: str = "") -> NamedTuple(
        "Sections", [("data", str), ("policy", str), ("contrast", str), ("reward", str), ("rl", str),
                     ("evaluate", str), ("probe", str), ("benchmark", str), ("export", str), ("registry", str)]):
    """Validate the config once, up front; each stage gets only its own section (so its cache key changes only
    when its section or the code changes). The trainjob_* parameters are checked here too, before anything trains,
    and under kfp.local the benchmark files (made absolute: saferlhf.pipeline.local_benchmark_files)."""
    from collections import namedtuple

    from saferlhf.pipeline import local_benchmark_files, resolve_config as resolve, section_payloads
    from saferlhf.pipeline.trainjob import check_trainjob_params

    check_trainjob_params(trainjob_nodes, trainjob_gpus_per_node, trainjob_pvc, trainjob_image)  # in a pod?

    params = dict(seed=seed, reward_epochs=reward_epochs, policy_epochs=policy_epochs, rl_steps=rl_steps,
                  objective=objective, target_kl=target_kl, min_unsafe_reduction=min_unsafe_reduction,
                  max_over_refusal_increase=max_over_refusal_increase, max_probe_risk=max_probe_risk)
    names = ["data", "policy", "contrast", "reward", "rl", "evaluate", "probe", "benchmark", "export", "registry"]
    payloads = section_payloads(local_benchmark_files(resolve(config, overrides, params)), names, code_version)
    return namedtuple("Sections", names)(**payloads)


@component
def resolve_monitor_config(config: str, overrides: dict, code_version: str, window: str, min_records: int,
                           max_drift_share: float) -> str:
    """The drift-monitor pipeline's step 0: the validated `monitor` section, with its parameters on top."""
    from saferlhf.pipeline import monitor_payload

    return monitor_payload(config, overrides, code_version, window=window, min_records=min_records,
                           max_drift_share=max_drift_share)
