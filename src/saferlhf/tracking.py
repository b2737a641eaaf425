"""MLflow tracking for the stages, kept outside them: the stages stay pure and return a dict; this module logs
that dict, the stage's config and its files. One parent run per pipeline run, one nested run per stage.

Nothing happens on import: the tracking URI is resolved when a run starts (explicit > env MLFLOW_TRACKING_URI >
embedded `sqlite:///<output_root>/mlflow.db`). A parent run started in one process reaches stage runs in child
processes (kfp.local runs each component in a subprocess) through the env var SAFERLHF_PARENT_RUN_ID."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import RegistryConfig, StageConfig

log = logging.getLogger(__name__)

PARENT_ENV = "SAFERLHF_PARENT_RUN_ID"
DISABLE_ENV = "SAFERLHF_TRACKING"
ARTIFACTS_DIR = "mlartifacts"  # artifact store of the embedded SQLite backend, beside mlflow.db
MAX_ARTIFACT_BYTES = 20 * 2**20  # JSON reports and plots only; weights go to the registry, not the run
# Per-step statistics files a stage writes (relative to its output folder) -> logged with `step=`.
STEP_FILES = ("training_stats.json", "training_history.json")


def tracking_enabled(cfg: RegistryConfig) -> bool:
    return cfg.tracking and os.environ.get(DISABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def tracking_uri(cfg: RegistryConfig, layout: Layout) -> str:
    """Explicit config > env MLFLOW_TRACKING_URI > embedded SQLite file under the output root."""
    if cfg.tracking_uri:
        return cfg.tracking_uri
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{layout.mlflow_db.resolve()}"


def connect(cfg: RegistryConfig, layout: Layout) -> str:
    """Point mlflow (tracking and registry) at the configured store and select the experiment; returns the URI."""
    import mlflow

    uri = tracking_uri(cfg, layout)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        # embedded store: artifacts beside the database (<output_root>/mlartifacts), not in ./mlruns of whatever
        # the working directory is, nor in the scratch layout a pipeline step runs in
        if mlflow.get_experiment_by_name(cfg.experiment) is None:
            from mlflow.exceptions import MlflowException

            with contextlib.suppress(MlflowException):  # another stage process may have just created it
                store = (db.parent / ARTIFACTS_DIR).resolve().as_uri()
                mlflow.create_experiment(cfg.experiment, artifact_location=store)
    mlflow.set_experiment(cfg.experiment)
    return uri


# ----------------------------------------------------------------------------------------------- pure helpers
def flatten(d: Any, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts/lists -> {"a.b.0": leaf}.

    >>> flatten({"a": {"b": 1, "c": [2, 3]}})
    {'a.b': 1, 'a.c.0': 2, 'a.c.1': 3}
    """
    if isinstance(d, dict):
        items = d.items()
    elif isinstance(d, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(d))
    else:
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}{sep}{k}" if prefix else str(k), sep))
    return out


def numeric_leaves(d: Any, max_list: int = 16) -> dict[str, float]:
    """Finite numbers of a result dict as metrics; long lists (curves) are left to the step files.

    >>> numeric_leaves({"acc": 0.9, "n": 3, "ok": True, "name": "x", "curve": list(range(100))})
    {'acc': 0.9, 'n': 3.0}
    """
    def short(v):
        return not (isinstance(v, (list, tuple)) and len(v) > max_list)

    pruned = _prune(d, short)
    return {_metric_key(k): float(v) for k, v in flatten(pruned).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _prune(d: Any, keep) -> Any:
    if isinstance(d, dict):
        return {k: _prune(v, keep) for k, v in d.items() if keep(v)}
    if isinstance(d, (list, tuple)):
        return [_prune(v, keep) for v in d]
    return d


def _metric_key(k: str) -> str:
    # MLflow keys: alphanumerics, _ - . / and space only
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in k)


def step_series(stats: Any) -> dict[str, list[tuple[int, float]]]:
    """Per-step metrics from either layout of a stats file: a list of per-step records (`step` key optional) or
    a dict of per-step lists (e.g. {"step_loss": [...], "val_loss": [...]}).

    >>> step_series([{"step": 1, "kl": 0.1}, {"step": 2, "kl": 0.2}])
    {'kl': [(1, 0.1), (2, 0.2)]}
    >>> step_series({"step_loss": [0.5, 0.4], "train_rows": 10})
    {'step_loss': [(0, 0.5), (1, 0.4)]}
    """
    out: dict[str, list[tuple[int, float]]] = {}
    if isinstance(stats, dict) and isinstance(stats.get("steps"), list):
        stats = stats["steps"]
    if isinstance(stats, list):
        for i, rec in enumerate(r for r in stats if isinstance(r, dict)):
            step = int(rec.get("step", i))
            for k, v in numeric_leaves({k: v for k, v in rec.items() if k != "step"}).items():
                out.setdefault(k, []).append((step, v))
    elif isinstance(stats, dict):
        for k, series in stats.items():
            if isinstance(series, list):
                pts = [(i, float(v)) for i, v in enumerate(series)
                       if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
                if pts:
                    out[_metric_key(k)] = pts
    return out


def config_hash(cfg: StageConfig) -> str:
    """Short sha256 of the stage config's canonical JSON."""
    return hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        if out.returncode == 0:
            return out.stdout.strip()
    return None


def stage_output(section: str, cfg: StageConfig, layout: Layout) -> Path | None:
    """Where a stage writes (its explicit path field, else its place in the layout)."""
    defaults = {"data": layout.data_dir, "reward": layout.reward_model, "policy": layout.base_policy,
                "rl": layout.rl_policy, "evaluate": layout.evaluation, "probe": layout.probes_report,
                "export": layout.reward_onnx, "benchmark": layout.benchmarks}
    explicit = getattr(cfg, "output_dir", None) or getattr(cfg, "output_path", None)
    default = defaults.get(section)
    return resolve(explicit, default) if (explicit or default) else None


def stage_files(out: Path | None) -> list[Path]:
    """The small reports and plots of a stage's output (never weights): *.json and plots/*.png."""
    if out is None or not out.exists():
        return []
    if out.is_file():
        return [out] if out.stat().st_size <= MAX_ARTIFACT_BYTES else []
    files = sorted(out.glob("*.json")) + sorted(out.glob("plots/*.png")) + sorted(out.glob("*.png"))
    return [f for f in files if f.stat().st_size <= MAX_ARTIFACT_BYTES]


def run_tags(cfg: StageConfig, layout: Layout, section: str) -> dict[str, str]:
    tags = {"saferlhf.stage": section, "saferlhf.config_hash": config_hash(cfg)}
    if commit := git_commit():
        tags["saferlhf.git_commit"] = commit
    if data_hash := file_sha256(resolve(getattr(cfg, "data_path", None), layout.labels)):
        tags["saferlhf.data_hash"] = data_hash
    return tags


# ----------------------------------------------------------------------------------------------- mlflow runs
@contextlib.contextmanager
def pipeline_run(cfg: RegistryConfig, layout: Layout, name: str = "pipeline",
                 tags: dict[str, str] | None = None) -> Iterator[str | None]:
    """Parent run of a pipeline run; yields its id (None when tracking is off). Stage runs started inside it,
    in this process or in child processes, nest under it."""
    if not tracking_enabled(cfg):
        yield None
        return
    import mlflow

    connect(cfg, layout)
    all_tags = {"saferlhf.kind": "pipeline", **(tags or {})}
    if commit := git_commit():
        all_tags["saferlhf.git_commit"] = commit
    if data_hash := file_sha256(layout.labels):
        all_tags["saferlhf.data_hash"] = data_hash
    previous = os.environ.get(PARENT_ENV)
    with mlflow.start_run(run_name=name, tags=all_tags) as run:
        os.environ[PARENT_ENV] = run.info.run_id
        try:
            yield run.info.run_id
        finally:
            if previous is None:
                os.environ.pop(PARENT_ENV, None)
            else:
                os.environ[PARENT_ENV] = previous


@contextlib.contextmanager
def stage_run(cfg: RegistryConfig, layout: Layout, name: str, tags: dict[str, str] | None = None):
    """A run for one stage, nested under the active run or the parent named by SAFERLHF_PARENT_RUN_ID."""
    import mlflow

    connect(cfg, layout)
    parent = mlflow.active_run()
    parent_id = parent.info.run_id if parent else os.environ.get(PARENT_ENV)
    with mlflow.start_run(run_name=name, nested=parent_id is not None, parent_run_id=parent_id,
                          tags=tags) as run:
        yield run


def log_stage(cfg: RegistryConfig, layout: Layout, section: str, stage_cfg: StageConfig, result: dict | None,
              name: str | None = None, artifact_paths: list[Path] | None = None) -> str:
    """Log one finished stage: params (its whole config), metrics (numeric leaves of `result`, per-step series
    from its stats files), artifacts (its reports and plots) and tags. Returns the run id."""
    import mlflow

    out = stage_output(section, stage_cfg, layout)
    files = stage_files(out) + [Path(p) for p in (artifact_paths or []) if Path(p).is_file()]
    with stage_run(cfg, layout, name or section, run_tags(stage_cfg, layout, section)) as run:
        params = flatten(stage_cfg.model_dump(mode="json"))
        # MLflow caps a param value at 6000 characters
        params = {k: ("" if v is None else str(v)[:6000]) for k, v in params.items()}
        mlflow.log_params(params)
        mlflow.log_metrics(numeric_leaves(result or {}))
        for f in files:
            if f.name in STEP_FILES:
                _log_steps(f)
            mlflow.log_artifact(str(f), artifact_path=section + ("/plots" if f.parent.name == "plots" else ""))
        return run.info.run_id


def _log_steps(path: Path) -> None:
    import mlflow
    from mlflow.entities import Metric

    try:
        stats = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        log.warning("tracking: skipped unreadable %s (%s)", path, e)
        return
    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    batch = [Metric(key, value, 0, step) for key, pts in step_series(stats).items() for step, value in pts]
    for i in range(0, len(batch), 1000):  # MLflow's log_batch limit
        client.log_batch(run_id, metrics=batch[i:i + 1000])


def track_stage(cfg: RegistryConfig, layout: Layout, section: str, stage_cfg: StageConfig, result: dict | None,
                name: str | None = None) -> str | None:
    """`log_stage` when tracking is on; a tracking failure is a warning, never a lost stage result."""
    if not tracking_enabled(cfg):
        return None
    try:
        return log_stage(cfg, layout, section, stage_cfg, result, name)
    except Exception as e:  # noqa: BLE001 - the stage's outputs are already written; tracking is best effort
        log.warning("tracking: could not log stage %r to MLflow (%s: %s); outputs are unaffected",
                    name or section, type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return None
