"""The monitor against a real MLflow store (SQLite file, in-process): the reference fetched from a run's artifacts
by URI, and the monitor run logged with its metrics and report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from saferlhf.artifacts import Layout
from saferlhf.config import MonitorConfig
from saferlhf.data.loader import LABEL_COLUMNS, load_labels
from saferlhf.errors import UserError
from saferlhf.monitor import run_monitor
from saferlhf.monitor.reference import REFERENCE_FILE, load_reference
from saferlhf.reward.evaluate import reference_frame
from saferlhf.signals import DEFAULT_WEIGHTS
from tests.unit.test_monitor import log_records, write_log

pytestmark = pytest.mark.slow  # MLflow SQLite store: ~15-35 s on 2 shared cores


@pytest.fixture()
def store(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SAFERLHF_TRACKING", "1")
    return uri


def test_reference_by_run_uri_and_monitor_run_is_logged(store, tmp_path, tiny_layout):
    import mlflow

    labels = load_labels(tiny_layout.labels)
    test = labels[labels["split"] == "test"].reset_index(drop=True)
    ref_dir = tmp_path / "onnx"
    ref_dir.mkdir()
    reference_frame(test, test[LABEL_COLUMNS].to_numpy(), DEFAULT_WEIGHTS).to_parquet(ref_dir / REFERENCE_FILE)
    mlflow.set_tracking_uri(store)
    with mlflow.start_run() as run:  # the registry logs the bundle folder `onnx/` under `artifacts/`
        mlflow.log_artifact(str(ref_dir / REFERENCE_FILE), artifact_path="artifacts/onnx")
    ref, source = load_reference(f"runs:/{run.info.run_id}")
    assert source == f"runs:/{run.info.run_id}" and len(ref) == len(test)
    with pytest.raises(UserError, match="no reference_scores.parquet found"):
        load_reference("runs:/0123456789abcdef0123456789abcdef")

    log = write_log(tmp_path / "predictions.jsonl", log_records(test, 120, seed=7))
    layout = Layout(tmp_path / "outputs")
    summary = run_monitor(MonitorConfig(log=str(log), reference=f"runs:/{run.info.run_id}"), layout).model_dump()
    assert summary["passed"] and summary["mlflow_run_id"]
    logged = mlflow.get_run(summary["mlflow_run_id"])
    assert logged.data.metrics["records"] == 120 and logged.data.metrics["passed"] == 1.0
    assert "columns.safety.score" in logged.data.metrics and logged.data.params["window"] == ""
    names = {Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(logged.info.run_id, "monitor-drift")}
    assert {Path(summary["report"]).name, Path(summary["snapshot"]).name, "drift_history.csv"} <= names
    assert json.loads(Path(summary["snapshot"]).read_text())["summary"]["passed"] is True
    assert pd.read_csv(layout.monitoring / "drift_history.csv")["passed"].tolist() == [True]
