"""Drift check of the scorer's traffic: the prediction log (the scorer's log volume, mounted into the pod) against
the served model's reference scores. Runs in the drift-monitor pipeline (`pipelines/monitor_pipeline.py`)."""

from typing import NamedTuple

from kfp.dsl import HTML, Artifact, Metrics, Output

from components._common import component


@component
def monitor_drift(stage: str, log: str, reference: str, fail_on_drift: bool, report: Output[HTML],
                  snapshot: Output[Artifact], metrics: Output[Metrics]) -> NamedTuple(
        "Drift", [("passed", bool), ("drifted", str)]):
    """`saferlhf.monitor.run_monitor`: `log` is a predictions.jsonl file or its folder, `reference` a parquet/CSV
    path or an MLflow URI (`models:/saferlhf-reward-onnx@champion`); `drifted` lists the drifted signals
    (comma-separated). With `fail_on_drift`, drift fails the step: the alert."""
    from collections import namedtuple

    from saferlhf.pipeline import monitor_step

    summary = monitor_step(stage, log, reference, fail_on_drift, report.path, snapshot.path, metrics)
    return namedtuple("Drift", ["passed", "drifted"])(summary["passed"], ",".join(summary["drifted_columns"]))
