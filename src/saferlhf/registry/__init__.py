"""Model registry stage: register the current outputs as new MLflow model versions and apply the safety gates.

`run_register(cfg, layout)` is what `saferlhf registry register` and the pipeline's register step call.
Imports stay light here: the ONNX pyfunc wrapper loads this package in the torch-free scoring image."""

from __future__ import annotations

import logging
from pathlib import Path

from saferlhf.artifacts import Layout
from saferlhf.config import RegistryConfig
from saferlhf.results import RegisterResult

log = logging.getLogger(__name__)


def available_models(layout: Layout) -> dict[str, Path | None]:
    """Registered-model name -> the folder it is logged from, or None when that stage has not produced it."""
    from saferlhf.serve.bundle import FP32_FILE, TOKENIZER_FILE

    reward, onnx, policy = layout.reward_model, layout.reward_onnx, layout.rl_policy
    return {"saferlhf-reward": reward if (reward / "model.safetensors").is_file() else None,
            "saferlhf-reward-onnx": onnx if (onnx / FP32_FILE).is_file() and (onnx / TOKENIZER_FILE).is_file()
            else None,
            "saferlhf-policy": policy if (policy / "config.json").is_file() else None}


def log_model(name: str, folder: Path, layout: Layout) -> tuple[str, dict[str, str]]:
    """Log one model from its folder; returns (logged model URI, extra version tags)."""
    from saferlhf.registry import models
    from saferlhf.io import file_sha256
    from saferlhf.serve.bundle import (FP32_FILE, FP32_SHA_TAG, MANIFEST_FILE, MANIFEST_TAG, SHA_TAG, check_export,
                                       pick_onnx)

    if name == "saferlhf-reward-onnx":
        check_export(folder)  # a failed or stale export is refused here, with the reason
        # the scorer checks manifest.json against MANIFEST_TAG and every file against the manifest
        served = pick_onnx(folder, "auto")
        tags = {MANIFEST_TAG: file_sha256(folder / MANIFEST_FILE), SHA_TAG: file_sha256(served),
                "onnx_file": served.name, FP32_SHA_TAG: file_sha256(folder / FP32_FILE)}
        return models.log_reward_onnx(folder, layout.reward_model), tags
    if name == "saferlhf-reward":
        return models.log_reward_torch(folder), {}
    return models.log_policy(folder), {}


def register_outputs(cfg: RegistryConfig, layout: Layout, run_id: str, parent_run_id: str | None) -> dict:
    """Inside an active run: log, register and gate every configured model whose files exist."""
    from saferlhf.registry import promote
    from saferlhf.registry.evidence import gate_metrics
    from saferlhf.tracking import data_sha256

    metrics = gate_metrics(layout)
    base_tags = {"data_hash": data_sha256(layout.labels) or "unknown", "run_id": run_id,
                 "parent_run_id": parent_run_id or "none"}
    found = available_models(layout)
    results: dict[str, dict] = {}
    for name in cfg.models:
        folder = found.get(name)
        if folder is None:
            log.info("registry: %s skipped (its stage output does not exist yet)", name)
            results[name] = {"skipped": "no output files"}
            continue
        uri, extra = log_model(name, folder, layout)
        mv = promote.register(name, uri, metrics, {**base_tags, **extra})
        decision = promote.evaluate(name, mv.version, cfg)
        if not cfg.promote:  # held (the pipeline's gate failed): its own gates may pass, champion stays
            decision = {**decision, "passed": False,
                        "reason": f"promotion held (registry.promote=false); own gates: {decision['reason']}"}
        decision = promote.apply(decision)
        promote.record(decision, "register")
        results[name] = {"version": mv.version, "action": decision["action"], "passed": decision["passed"],
                         "reason": decision["reason"], "previous_champion": decision["previous_champion"],
                         "decision": decision}
    return {"metrics": metrics, "models": results}


def run_register(cfg: RegistryConfig, layout: Layout) -> RegisterResult:
    """`saferlhf registry register`: new versions of the current reward model, its ONNX export and the RL policy,
    each `challenger`, promoted to `champion` when the gates pass. Writes <output_root>/registry/decisions.json."""
    import mlflow

    from saferlhf.io import write_json
    from saferlhf.tracking import connect, stage_run

    uri = connect(cfg, layout)
    with stage_run(cfg, layout, "register", {"saferlhf.stage": "registry"}) as run:
        parent = run.data.tags.get("mlflow.parentRunId")
        result = register_outputs(cfg, layout, run.info.run_id, parent)
        mlflow.log_metrics({f"gate.{k}": v for k, v in result["metrics"].items()})
    summary = RegisterResult(tracking_uri=uri, run_id=run.info.run_id, parent_run_id=parent or None,
                             metrics=result["metrics"], models=result["models"])
    write_json(layout.registry_decisions, summary.model_dump(mode="json"))
    return summary
