"""The drift monitor as a pipeline: resolve the `monitor` config section -> check the scorer's prediction log
against the served model's reference. Meant as a KFP recurring run (`kfp.Client().create_recurring_run` with the
compiled `monitor_pipeline.yaml` and a cron), the alternative to the CronJob in manifests/base/drift-monitor.yaml;
with `fail_on_drift` a drifted window fails the run, which is the alert. Compile with `saferlhf pipeline compile`;
run locally with `saferlhf pipeline run --pipeline monitor`, submit with `pipeline submit --pipeline monitor`."""

from pathlib import Path
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact

import saferlhf
from components._common import configure
from components.config import resolve_monitor_config
from components.monitor import monitor_drift
from pipelines import platform
from saferlhf.pipeline.platform import PREDICTION_LOG_MOUNT, PREDICTION_LOG_PVC

PIPELINE_NAME = "saferlhf-drift-monitor"
COMPILED = Path(__file__).with_name("monitor_pipeline.yaml")

Outputs = NamedTuple("Outputs", [("passed", bool), ("drifted", str), ("report", HTML), ("snapshot", Artifact)])


@dsl.pipeline(name=PIPELINE_NAME, description="Drift check of the safety scorer's traffic against the served "
                                               "reward model's reference scores (Evidently); drift fails the run.")
def monitor_pipeline(log: str = PREDICTION_LOG_MOUNT, log_volume: str = PREDICTION_LOG_PVC,
                     reference: str = "models:/saferlhf-reward-onnx@champion", window: str = "24h",
                     min_records: int = 0, max_drift_share: float = 0.0, fail_on_drift: bool = True,
                     config: str = "", overrides: dict = {}, code_version: str = saferlhf.__version__) -> Outputs:
    """Args:
        log: the scorer's prediction log, predictions.jsonl or its folder, on the log volume mounted into the pod.
        log_volume: the PVC holding the scorer's prediction log, mounted at /var/log/saferlhf/predictions.
        reference: reference scores, a parquet/CSV path or an MLflow URI (models:/NAME@ALIAS, runs:/ID).
        window: records to check, a span back from now (30m, 24h, 7d) or a count (5000); "": from the config.
        min_records: fewest records the window must hold (0: from the config).
        max_drift_share: share of drifted signals that fails the drift test (0: from the config).
        fail_on_drift: fail the run when the monitor's tests fail (the alert); else report passed=False.
        config: config name, YAML path or YAML text; its `monitor` section holds the other thresholds.
        overrides: {section: {field: value}} applied on top of the config.
        code_version: part of the config step's cache key (the image tag on a cluster; a source hash locally).
    """
    stage = configure(resolve_monitor_config(
        config=config, overrides=overrides, code_version=code_version, window=window, min_records=min_records,
        max_drift_share=max_drift_share), "resolve-monitor-config").output
    # never cached (the log grows behind the same path) and never retried (drift is a finding, not a crash)
    check = configure(monitor_drift(stage=stage, log=log, reference=reference, fail_on_drift=fail_on_drift),
                      "monitor-drift", cache=False, retry=False)
    platform.mount_prediction_log(check, log_volume)
    platform.apply()
    return Outputs(passed=check.outputs["passed"], drifted=check.outputs["drifted"], report=check.outputs["report"],
                   snapshot=check.outputs["snapshot"])
