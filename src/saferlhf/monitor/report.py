"""The Evidently 0.7 drift report over logged traffic vs the reference, and its pass/fail summary.

Monitored columns: the four signals and the combined reward (DataDriftPreset: a drifted-column-share test and a
ValueDrift with its own drift test per column). Descriptors of the traffic (text lengths, refusal share, unsafe
share) are per-row columns summarised with MeanValue; the unsafe share carries the ceiling test.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from saferlhf.config import MonitorConfig
from saferlhf.signals import SIGNALS

DRIFT_COLUMNS: tuple[str, ...] = (*SIGNALS, "reward")
DESCRIPTORS: tuple[str, ...] = ("prompt_length", "response_length", "refusal", "unsafe")


@dataclass(frozen=True)
class DriftResult:
    snapshot: object  # evidently.core.report.Snapshot
    summary: dict


def descriptor_frame(df: pd.DataFrame, unsafe_threshold: float) -> pd.DataFrame:
    """The drift columns plus per-row descriptors (floats; NaN where a descriptor is unknown)."""
    out = df[list(DRIFT_COLUMNS)].astype(float).copy()
    for col in ("prompt_length", "response_length", "refusal"):
        out[col] = df[col].astype(float) if col in df else np.nan
    out["unsafe"] = (out["safety"] < unsafe_threshold).astype(float)
    return out


def unsafe_ceiling(cfg: MonitorConfig, reference_unsafe_rate: float) -> float:
    """The configured ceiling, else the reference's rate plus the margin (capped at 1)."""
    if cfg.max_unsafe_rate is not None:
        return cfg.max_unsafe_rate
    return min(1.0, reference_unsafe_rate + cfg.unsafe_rate_margin)


def build_report(cfg: MonitorConfig, ceiling: float):
    from evidently import Report
    from evidently.metrics import MeanValue, RowCount
    from evidently.presets import DataDriftPreset
    from evidently.tests import lte

    drift = DataDriftPreset(columns=list(DRIFT_COLUMNS), drift_share=cfg.max_drift_share, method=cfg.drift_method,
                            threshold=cfg.drift_threshold)
    # tests=[] switches off Evidently's default "equal to reference +-10%" tests on the descriptors
    descriptors = [MeanValue(column=c, tests=[]) for c in DESCRIPTORS if c != "unsafe"]
    unsafe = MeanValue(column="unsafe", tests=[lte(ceiling)])
    return Report([drift, unsafe, *descriptors, RowCount(tests=[])], include_tests=True)


def run_drift_report(current: pd.DataFrame, reference: pd.DataFrame, cfg: MonitorConfig) -> DriftResult:
    """Run the report on descriptor frames of the window (current) and the reference."""
    from evidently import DataDefinition, Dataset

    cur = descriptor_frame(current, cfg.unsafe_threshold)
    ref = descriptor_frame(reference, cfg.unsafe_threshold)
    ceiling = unsafe_ceiling(cfg, float(ref["unsafe"].mean()))
    definition = DataDefinition(numerical_columns=list(cur.columns))
    with warnings.catch_warnings():
        # descriptors the reference lacks (refusal: it has no text) are all-NaN there; Evidently warns on 0/0
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = build_report(cfg, ceiling).run(Dataset.from_pandas(cur, data_definition=definition),
                                                  Dataset.from_pandas(ref, data_definition=definition))
    return DriftResult(snapshot, summarize(snapshot.dict(), cur, ref, ceiling))


def _status(test: dict) -> str:
    s = test.get("status")
    return str(getattr(s, "value", s)).upper()


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def summarize(result: dict, cur: pd.DataFrame, ref: pd.DataFrame, ceiling: float) -> dict:
    """Headline numbers from Evidently's result dict: per-column drift, drift share, descriptors, test verdicts."""
    columns: dict[str, dict] = {}
    drift_share = None
    for m in result["metrics"]:
        cfg = m.get("config", {})
        kind = cfg.get("type", "").rsplit(":", 1)[-1]
        if kind == "ValueDrift":
            columns[cfg["column"]] = {"score": _nan_to_none(m["value"]), "method": cfg.get("method"),
                                      "threshold": cfg.get("threshold")}
        elif kind == "DriftedColumnsCount":
            drift_share = float(m["value"]["share"])
    tests = []
    for t in result["tests"]:
        params = t.get("metric_config", {}).get("params", {})
        status = _status(t)
        tests.append({"name": t.get("name"), "status": status, "description": t.get("description")})
        if params.get("type", "").endswith("ValueDrift") and params.get("column") in columns:
            columns[params["column"]]["drifted"] = status != "SUCCESS"
    drifted = [c for c in DRIFT_COLUMNS if columns.get(c, {}).get("drifted")]
    failed = [t["name"] for t in tests if t["status"] not in ("SUCCESS", "SKIPPED")]
    return {
        "passed": not failed,
        "failed_tests": failed,
        "drifted_columns": drifted,
        "drift_share": drift_share,
        "columns": columns,
        "unsafe_rate": float(cur["unsafe"].mean()),
        "reference_unsafe_rate": float(ref["unsafe"].mean()),
        "unsafe_rate_ceiling": ceiling,
        "refusal_rate": _nan_to_none(cur["refusal"].mean()),
        "mean_prompt_length": _nan_to_none(cur["prompt_length"].mean()),
        "mean_response_length": _nan_to_none(cur["response_length"].mean()),
        "tests": tests,
    }
