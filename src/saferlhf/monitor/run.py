"""`run_monitor`: one monitoring pass over the scorer's prediction log.

log -> window -> Evidently report vs the reference -> HTML report + JSON snapshot (timestamped and `latest`) ->
one appended history row -> MLflow run (when tracking is on). The caller turns `passed` into the exit code
(0 pass, 1 drift); bad input raises UserError (exit 2) before anything is written.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import MonitorConfig
from saferlhf.errors import UserError
from saferlhf.io import write_json, write_text
from saferlhf.monitor.history import HISTORY_FILE, append_history, history_row
from saferlhf.monitor.logs import load_prediction_log, select_window
from saferlhf.monitor.reference import REFERENCE_FILE, check_reference_matches, load_reference
from saferlhf.monitor.report import run_drift_report
from saferlhf.results import MonitorResult

log = logging.getLogger(__name__)
SUMMARY_FILE = "summary.json"  # the last run's MonitorResult


def _window_or_fail(cfg: MonitorConfig) -> tuple:
    if not cfg.log:
        raise UserError("no prediction log given: pass --log <predictions.jsonl or its folder>")
    now = datetime.now(timezone.utc)
    df, stats = load_prediction_log(cfg.log, cfg.window, cfg.model_version, now)  # bounded by the window
    if cfg.model_version is not None:
        df = df[df["model_version"].astype(str) == cfg.model_version]
    window = select_window(df, cfg.window, now)
    if len(window) < cfg.min_records:
        where = f"the last {cfg.window}" if cfg.window and not cfg.window.strip().isdigit() else \
            f"window {cfg.window or 'all'}"
        if cfg.model_version is not None:
            where += f" (model version {cfg.model_version})"
        raise UserError(f"{where} of {cfg.log} holds {len(window)} valid record(s) ({stats.skipped} corrupted "
                        f"line(s) skipped); the monitor needs at least min_records={cfg.min_records}")
    return window, stats


def _write_outputs(out_dir: Path, stamp: str, snapshot, summary: dict) -> dict[str, Path]:
    html = snapshot.get_html_str(as_iframe=False)
    doc = json.dumps({"summary": summary, **snapshot.dict()}, default=_json_default, indent=1) + "\n"
    paths = {"report": out_dir / "reports" / f"drift-{stamp}.html",
             "snapshot": out_dir / "snapshots" / f"drift-{stamp}.json"}
    write_text(paths["report"], html)
    write_text(paths["snapshot"], doc)
    # `latest` is written after the timestamped pair, so a reader never sees a latest without its original
    write_text(out_dir / MonitorResult.LATEST_REPORT, html)
    write_text(out_dir / "latest.json", doc)
    return paths


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "value"):  # Evidently enums (test status)
        return o.value
    return str(o)


def _track(cfg: MonitorConfig, layout: Layout, registry, summary: dict,
           files: list[Path]) -> str | None:
    """Log the run to MLflow through the project's tracking module; a failure is a warning, never a lost run."""
    if not cfg.tracking:
        return None
    try:
        from saferlhf import tracking
        from saferlhf.config import RegistryConfig
    except ImportError:  # no tracking module in this build: nothing to log to
        return None
    reg = registry or RegistryConfig()
    if not tracking.tracking_enabled(reg):
        return None
    metrics = {k: v for k, v in summary.items() if k not in ("tests", "report", "snapshot")}
    metrics["passed"] = float(summary["passed"])  # numeric_leaves drops bools
    try:
        return tracking.log_stage(reg, layout, "monitor-drift", cfg, metrics, artifact_paths=files)
    except Exception as e:  # noqa: BLE001 - outputs are written; tracking is best effort
        log.warning("monitor: could not log to MLflow (%s: %s)", type(e).__name__, str(e).splitlines()[0][:200])
        return None


def run_monitor(cfg: MonitorConfig, layout: Layout, registry=None) -> MonitorResult:
    """Check the log's window against the reference; returns the summary (`passed`, drifted columns, paths).

    `registry`: the RegistryConfig that says where MLflow runs go (default: its defaults + env)."""
    t0 = time.perf_counter()
    window, stats = _window_or_fail(cfg)
    # default: the served bundle's own reference (what the scorer's model was exported with), else the reward
    # model's (an export from before bundles carried one)
    bundle_ref = layout.reward_onnx / REFERENCE_FILE
    ref_spec = cfg.reference or str(bundle_ref if bundle_ref.is_file() else layout.reward_model / REFERENCE_FILE)
    own = check_reference_matches(ref_spec, {str(v) for v in window["model_version"].dropna().unique()})
    if own is not None:
        window = window[window["model_version"].astype(str).isin(own)]
        if len(window) < cfg.min_records:
            raise UserError(f"window {cfg.window or 'all'} of {cfg.log} holds {len(window)} record(s) of the "
                            f"reference's model version(s) {sorted(own)}; the monitor needs at least "
                            f"min_records={cfg.min_records}")
    reference, ref_source = load_reference(ref_spec)
    if len(reference) < cfg.min_records:
        raise UserError(f"reference {ref_source} has {len(reference)} rows; at least min_records="
                        f"{cfg.min_records} are needed")
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    result = run_drift_report(window, reference, cfg)
    summary = {
        "time": now.isoformat(timespec="seconds"), "log": str(cfg.log), "reference": ref_source,
        "window": cfg.window, "records": len(window), "reference_records": len(reference),
        "skipped_lines": stats.skipped, "skipped_examples": stats.examples,
        "model_versions": sorted({str(v) for v in window["model_version"].dropna().unique()}),
        "first_record": window["timestamp"].iloc[0].isoformat(),
        "last_record": window["timestamp"].iloc[-1].isoformat(),
        **result.summary,
    }
    out_dir = resolve(cfg.output_dir, layout.monitoring)
    summary["report"] = str(out_dir / "reports" / f"drift-{stamp}.html")
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    paths = _write_outputs(out_dir, stamp, result.snapshot, summary)
    history = append_history(out_dir / HISTORY_FILE, history_row(summary))
    summary["snapshot"], summary["history"] = str(paths["snapshot"]), str(history)
    summary["mlflow_run_id"] = _track(cfg, layout, registry, summary, [paths["report"], paths["snapshot"], history])
    verdict = "PASS" if summary["passed"] else f"DRIFT ({', '.join(summary['failed_tests'])})"
    log.info("monitor: %d records, drift share %.2f, unsafe rate %.3f (ceiling %.3f): %s", summary["records"],
             summary["drift_share"] or 0.0, summary["unsafe_rate"], summary["unsafe_rate_ceiling"], verdict)
    result = MonitorResult.model_validate(summary)
    write_json(out_dir / SUMMARY_FILE, result.model_dump(mode="json"))
    return result
