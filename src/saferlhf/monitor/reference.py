"""Load the drift reference: the served reward model's own scores on held-out data.

A local parquet/CSV file, or an MLflow URI (`models:/saferlhf-reward-onnx@champion`, `runs:/<run_id>[/path]`)
whose artifacts hold `reference_scores.parquet`, so a served model version is always compared with its own
reference. MLflow is imported only for URIs.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd

from saferlhf.artifacts import REFERENCE_FILE
from saferlhf.errors import UserError
from saferlhf.signals import SIGNALS

log = logging.getLogger(__name__)

REQUIRED_COLUMNS: tuple[str, ...] = (*SIGNALS, "reward")
OPTIONAL_COLUMNS: tuple[str, ...] = ("prompt_length", "response_length")
URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def is_mlflow_uri(spec: str) -> bool:
    return spec.startswith(URI_SCHEMES)


def read_reference_file(path: Path) -> pd.DataFrame:
    """Parquet or CSV with at least the four signals and the reward."""
    if not path.is_file():
        raise UserError(f"reference not found: {path}")
    try:
        df = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except Exception as e:  # pyarrow/pandas raise many types for a bad file
        raise UserError(f"reference {path} is not a readable parquet/CSV file ({type(e).__name__}: {e})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df]
    if missing:
        raise UserError(f"reference {path} lacks column(s) {missing}; it needs {list(REQUIRED_COLUMNS)}")
    cols = [*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in df)]
    out = df[cols].apply(pd.to_numeric, errors="coerce").dropna()
    if out.empty:
        raise UserError(f"reference {path} has no rows with numeric {list(REQUIRED_COLUMNS)}")
    return out.reset_index(drop=True)


def _download_from_mlflow(uri: str, dst: Path) -> Path:
    """Fetch reference_scores.parquet from the URI's artifacts (or, for a model, from its source run)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    tried = []
    candidates = [uri] if uri.endswith((".parquet", ".csv")) else _places(uri)
    if uri.startswith("models:/"):
        try:
            candidates += _places(f"runs:/{_model_source_run(uri)}")
        except (MlflowException, ValueError) as e:
            tried.append(f"{uri}: {e}")
    for cand in candidates:
        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=cand, dst_path=str(dst)))
        except Exception as e:  # noqa: BLE001 - MLflow raises several types for "no such artifact"
            tried.append(f"{cand}: {(str(e).splitlines() or [type(e).__name__])[0][:160]}")
    raise UserError(f"no {REFERENCE_FILE} found for {uri} (tried {'; '.join(tried)})")


def _places(uri: str) -> list[str]:
    """Where a reference can sit under a URI: at its root, or inside a registered pyfunc model's bundle folder
    (`artifacts/onnx/` for the ONNX model, `artifacts/reward_model/` for the PyTorch one, see saferlhf.registry)."""
    root = uri.rstrip("/")
    return [f"{root}/{sub}{REFERENCE_FILE}" for sub in ("", "artifacts/onnx/", "artifacts/reward_model/")]


def _model_version(uri: str):
    """The registry version `models:/name/version` or `models:/name@alias` names."""
    from mlflow import MlflowClient

    ref = uri[len("models:/"):].strip("/").split("/")
    client = MlflowClient()
    if "@" in ref[0]:
        name, alias = ref[0].split("@", 1)
        return client.get_model_version_by_alias(name, alias)
    if len(ref) >= 2:
        return client.get_model_version(ref[0], ref[1])
    raise ValueError(f"{uri} names no version or alias")


def _model_source_run(uri: str) -> str:
    """run id that produced the model version `models:/name/version` or `models:/name@alias`."""
    mv = _model_version(uri)
    if not mv.run_id:
        raise ValueError(f"{uri} has no source run")
    return mv.run_id


def load_reference(spec: str | Path) -> tuple[pd.DataFrame, str]:
    """(reference frame, where it came from) for a path or an MLflow URI."""
    spec = str(spec)
    if not is_mlflow_uri(spec):
        return read_reference_file(Path(spec)), spec
    with tempfile.TemporaryDirectory(prefix="saferlhf-ref-") as tmp:
        path = _download_from_mlflow(spec, Path(tmp))
        log.info("reference %s -> %s", spec, path)
        return read_reference_file(path), spec


def reference_versions(spec: str | Path) -> set[str] | None:
    """The `model_version` values the scorer logs for the model this reference belongs to, or None when that
    cannot be known (a reference file outside a sealed export bundle, a runs:/ URI).

    A reference inside an export bundle is listed in its manifest.json: the scorer reports a local bundle as
    sha256:<12 hex> of the ONNX file it serves. A registry URI resolves to the version the scorer reports as
    <name>/<version>."""
    spec = str(spec)
    if spec.startswith("models:/"):
        from mlflow.exceptions import MlflowException

        try:
            mv = _model_version(spec)
        except (MlflowException, ValueError):
            return None
        return {f"{mv.name}/{mv.version}"}
    if is_mlflow_uri(spec):
        return None
    import json

    from saferlhf.serve.bundle import FP32_FILE, INT8_FILE, MANIFEST_FILE

    path = Path(spec)
    manifest = path.parent / MANIFEST_FILE
    try:
        files = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if path.name not in files:
        return None
    return {f"sha256:{files[n][:12]}" for n in (FP32_FILE, INT8_FILE) if n in files}


def check_reference_matches(spec: str | Path, logged: set[str]) -> set[str] | None:
    """The reference's model versions present in the window (the caller keeps only their records); UserError
    when the window holds none of them (issue 15: retraining without re-exporting made normal traffic fail as
    drift against the new model's reference). None when the reference's versions cannot be known."""
    owners = reference_versions(spec)
    if owners is None:
        log.warning("reference %s: cannot tell which model version it belongs to; not checked against the log", spec)
        return None
    if not logged & owners:
        raise UserError(f"reference {spec} belongs to model version(s) {sorted(owners)}, but the log window holds "
                        f"{sorted(logged)}: use the served model's own reference (its export bundle, or "
                        "models:/<name>@<alias>), or --model-version to check one version")
    if logged - owners:  # e.g. just after a rollout: the other version's traffic is not judged by this reference
        log.warning("monitor: leaving out records of model version(s) %s (the reference belongs to %s)",
                    sorted(logged - owners), sorted(owners))
    return logged & owners
