"""The adapter every KFP component calls: stage config JSON in, upstream artifact folders linked into a scratch
`Layout`, the stage's own `run_<verb>(cfg, layout)`, its outputs moved into the artifact paths, headline metrics
logged on the `Metrics` artifact and a report written. Duck-typed on kfp's artifacts: no kfp import."""

from __future__ import annotations

import base64
import contextlib
import html
import importlib
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

from saferlhf.artifacts import Layout
from saferlhf.io import hardlink_or_copy, write_json, write_text
from saferlhf.pipeline.config import stage_config
from saferlhf.pipeline.platform import SHARED_HOST_ENV, require_tracking_uri
from saferlhf.pipeline.trainjob import TrainJobSettings
from saferlhf.results import StageResult
from saferlhf.stages import ASSESS_PARALLELISM, ASSESSMENTS, OPTIONAL_ASSESSMENTS, STAGE, place_of

log = logging.getLogger(__name__)

# Files in a stage's output that make its report.
REPORT_IMAGES = ("plots/*.png", "*.png")
# The one file of an optional assessment's output when it was not planned (publishing leaves such an output out).
NOT_RUN_FILE = "not_run.txt"


def step_io(step: str, artifacts: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(inputs, outputs) as Layout place -> path, from a component's artifacts (name -> path) and the stage table."""
    spec = STAGE[step]
    places = {place_of(name): path for name, path in artifacts.items()}
    if step in ASSESSMENTS:
        places[spec.outputs[0]] = places.pop("results")
    missing = [p for p in spec.inputs + spec.outputs if p not in places]
    if missing:
        raise RuntimeError(f"step {step!r}: the component lacks artifacts for {missing}")
    return {p: places[p] for p in spec.inputs}, {p: places[p] for p in spec.outputs}


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link an input artifact into the scratch layout: real folders and files (tools such as MLflow refuse
    symlinks that leave their folder), no copy of the weights, and the stage may add files (e.g. onnx/) next to
    its inputs without touching the upstream artifact (writes are atomic renames, which replace the link)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=hardlink_or_copy, dirs_exist_ok=True)
    else:
        hardlink_or_copy(src, dst)


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))


def share_cpus(step: str) -> int | None:
    """Torch threads for an assessment that runs beside the others of its fan-out on one machine (kfp.local):
    the CPUs divided among the ASSESS_PARALLELISM processes. Torch's default, one thread per CPU in each process,
    oversubscribes the cores, and every op then waits for a descheduled thread: sampling 16 x 32 tokens from
    SmolLM2-135M in two processes at once took 50.8 s with 2 threads each vs 7.2 s with 1 thread each on
    2 cores (4.6 s for one process alone; docs/real-model.md). On a cluster each item has its own pod: unchanged.
    Returns the threads set (None: left as it was)."""
    if step not in ASSESSMENTS or not os.environ.get(SHARED_HOST_ENV):
        return None
    import torch

    from saferlhf.serve.scorer import cpu_limit

    cpus = cpu_limit()
    threads = max(1, cpus // ASSESS_PARALLELISM)
    torch.set_num_threads(threads)
    log.info("%s: %d torch thread(s) (%d CPUs shared by %d assessments)", step, threads, cpus, ASSESS_PARALLELISM)
    return threads


def run_stage(payload: str, step: str, inputs: dict[str, str], outputs: dict[str, str], scratch: str,
              trainjob: TrainJobSettings | None = None) -> StageResult:
    """Run one stage inside a KFP component: `step` names it in the stage table; `inputs` and `outputs` map Layout
    places (`data_dir`, `reward_model`, ...) to artifact paths. Returns its typed result, paths moved.
    `trainjob`: run it as a Kubeflow Trainer TrainJob (saferlhf.pipeline.trainjob), the Layout on its shared
    volume instead of `scratch`."""
    section, cfg, tracking = stage_config(payload)
    stage = STAGE[step]
    # on a cluster, a step without MLflow stops here, not after its work (registry: a scratch SQLite file, lost)
    require_tracking_uri(tracking.tracking_uri, section)
    root = trainjob.root if trainjob else Path(scratch)
    if root.exists():
        shutil.rmtree(root)  # a retried attempt starts clean
    layout = Layout(root)
    try:
        for attr, path in inputs.items():
            _link_tree(Path(path), getattr(layout, attr))
        share_cpus(step)
        fn = _stage_fn(stage, trainjob, Path(scratch))
        log.info("stage %s: %s%s", step, stage.run, f" as TrainJob {trainjob.name}" if trainjob else "")
        from saferlhf.provenance import recorded

        with recorded(stage, cfg, layout):  # its record goes into the report before the outputs move out of scratch
            result = fn(cfg, layout)
    except BaseException:
        if trainjob and not trainjob.keep:  # the shared volume outlives the pod: leave nothing there
            shutil.rmtree(root, ignore_errors=True)
        raise
    if stage.tracking == "stage" and (tracking.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")):
        # like the CLI: log to MLflow when the run has a tracking server or file (the YAML's registry.tracking_uri;
        # else the env: the local `pipeline run` points MLFLOW_TRACKING_URI at outputs/mlflow.db, a cluster pod's
        # ConfigMap sets it); best effort
        from saferlhf.tracking import track_stage

        track_stage(tracking, layout, step, cfg, result)
    for attr, path in outputs.items():
        src = getattr(layout, attr)
        if not src.exists():
            raise RuntimeError(f"stage {section!r} finished but wrote nothing to {src.relative_to(root)}")
        _replace(src, Path(path))
    shutil.rmtree(root, ignore_errors=True)
    moved = relocate(result.model_dump(mode="json"), {str(getattr(layout, a)): p for a, p in outputs.items()})
    return type(result).model_validate(moved)


def _stage_fn(stage, trainjob: TrainJobSettings | None, scratch: Path):
    """`fn(cfg, layout)`: the stage's own run function, or its launch as a TrainJob (node 0's log kept beside the
    step's scratch folder, on the pod's disk: the shared folder is removed once the outputs moved)."""
    if trainjob is not None:
        from saferlhf.pipeline.trainjob import launch

        log_file = scratch.with_name(f"{trainjob.name}-node0.log")
        return lambda cfg, layout: launch(trainjob, stage, cfg, layout, log_file)
    try:
        return stage.run_fn()
    except (ImportError, AttributeError) as e:
        raise RuntimeError(f"stage {stage.section!r}: {stage.run} is not available in this saferlhf version "
                           f"({e})") from None


@contextlib.contextmanager
def error_note(task_dir: Path):
    """A failure inside leaves `error.txt` (its first line) in the task folder, for `saferlhf pipeline run` to quote."""
    try:
        yield
    except Exception as e:
        write_text(task_dir / "error.txt", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}\n")
        raise


def component_step(payload: str, step: str, artifacts: dict[str, str], metrics: Any, report: str,
                   fmt: str = "html", trainjob: TrainJobSettings | None = None) -> StageResult:
    """A whole component body: run the step's stage on its artifacts (name -> path), log its headline metrics,
    write its report. A failure leaves `error.txt` (one line) in the task folder, which `saferlhf pipeline run`
    quotes when it names the failed step. `trainjob`: see run_stage."""
    inputs, outputs = step_io(step, artifacts)
    task_dir = Path(report).parent
    with error_note(task_dir):
        result = run_stage(payload, step, inputs, outputs, str(task_dir / "layout"), trainjob)
    log_metrics(metrics, result.headline())
    write_report(report, STAGE[step].title, result.headline(), list(outputs.values()), fmt)
    return result


def relocate(value: Any, moves: dict[str, str]) -> Any:
    """Rewrite path strings in a stage result after its outputs moved into the artifact folders."""
    if isinstance(value, dict):
        return {k: relocate(v, moves) for k, v in value.items()}
    if isinstance(value, list):
        return [relocate(v, moves) for v in value]
    if isinstance(value, str):
        for old, new in moves.items():
            if value.startswith(old):
                return new + value[len(old):]
    return value


def log_metrics(metrics: Any, numbers: dict[str, float]) -> dict[str, float]:
    """Log headline numbers on a KFP `Metrics` artifact (duck-typed: `.log_metric`, `.path`) and write them as
    JSON at its path too (the local cache treats an artifact without a file as missing)."""
    numbers = {k: float(v) for k, v in numbers.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    for k, v in numbers.items():
        metrics.log_metric(k, v)
    Path(metrics.path).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(metrics.path), numbers)
    return numbers


def write_report(path: str, title: str, numbers: dict[str, float], folders: list[str] = (), fmt: str = "html") -> None:
    """An HTML (plots inlined) or Markdown report of a step: headline metrics, then its plots."""
    if fmt == "md":
        rows = "\n".join(f"| {k} | {v:.4g} |" for k, v in numbers.items())
        write_text(Path(path), f"# {title}\n\n| metric | value |\n|---|---|\n{rows}\n")
        return
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>" for k, v in numbers.items())
    images = []
    for folder in folders:
        for pattern in REPORT_IMAGES:
            images += sorted(Path(folder).glob(pattern)) if Path(folder).is_dir() else []
    figs = "".join(f"<figure><img src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}' "
                   f"style='max-width:720px'><figcaption>{html.escape(p.name)}</figcaption></figure>"
                   for p in dict.fromkeys(images))
    write_text(Path(path), f"<html><body><h1>{html.escape(title)}</h1><table border=1>{rows}</table>{figs}"
                           f"</body></html>")


# ---------------------------------------------------------------- promotion gate


def gate_decision(payload: str, inputs: dict[str, str], scratch: str) -> dict:
    """The pipeline's promotion gate: the registry's absolute gates (no champion comparison: that needs the
    registry, which the register step reaches) on the evaluation, probe, benchmark (when run) and reward-model
    reports."""
    from saferlhf.registry.evidence import gate_metrics
    from saferlhf.registry.gates import POLICY_MODEL, decide

    _, cfg, _ = stage_config(payload)
    root = Path(scratch)
    shutil.rmtree(root, ignore_errors=True)
    layout = Layout(root)
    for attr, path in inputs.items():
        _link_tree(Path(path), getattr(layout, attr))
    try:
        return decide(POLICY_MODEL, gate_metrics(layout), None, cfg)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def decision_markdown(decision: dict) -> str:
    rows = "\n".join(f"| {g['name']} | {'pass' if g['passed'] else 'FAIL'} | {g['value']} | {g['threshold']} | "
                     f"{g['reason']} |" for g in decision.get("gates", []))
    verdict = "promote to `champion`" if decision.get("passed") else "keep as `challenger` (not promoted)"
    return (f"# Promotion decision: {verdict}\n\n{decision.get('reason', '')}\n\n"
            f"| gate | result | value | threshold | reason |\n|---|---|---|---|---|\n{rows}\n")




def assessment_kind(path: Path) -> str:
    """Which assessment wrote an output, by its report file at the stage table's place (evaluation: a folder with
    evaluation_results.json, probes: the report file itself, benchmarks: a folder with report.json)."""
    for name in ASSESSMENTS:
        _, _, file = STAGE[name].report.partition("/")
        if (path / file).is_file() if file else path.is_file():
            return name
    raise RuntimeError(f"promotion gate: {path} is the output of no assessment ({', '.join(ASSESSMENTS)})")


def gate_step(payload: str, assessments: list[tuple[str, str]], reward_model: str, outputs: dict[str, str],
              decision: str, metrics: Any) -> dict:
    """The gate component's body: gather the fanned-out assessment outputs (by their `assessment` metadata, else
    by their report file) into typed outputs (assessment -> path: evaluate, probe, benchmark), then decide. An
    optional assessment that was not planned gets a folder holding only NOT_RUN_FILE: every output needs a file
    (kfp.local's cache takes a missing one for a miss) and publishing skips it."""
    named = {kind or assessment_kind(Path(p)): p for kind, p in assessments}
    missing = [k for k in ASSESSMENTS if k not in named and k not in OPTIONAL_ASSESSMENTS]
    if missing:
        raise RuntimeError(f"promotion gate: no output from assessment(s) {missing}")
    for kind, dst in outputs.items():
        if kind in named:
            src = Path(named[kind])
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
        else:
            field = f"{STAGE[kind].section}.{OPTIONAL_ASSESSMENTS[kind]}"
            write_text(Path(dst) / NOT_RUN_FILE, f"{kind}: not run ({field} is empty)\n")
    places = {STAGE[kind].outputs[0]: path for kind, path in outputs.items()}  # evaluation, probes_report, benchmarks
    result = gate_decision(payload, {**places, "reward_model": reward_model}, str(Path(decision).parent / "layout"))
    values = {g["name"]: g["value"] for g in result["gates"] if g["value"] is not None}
    log_metrics(metrics, {"passed": float(result["passed"]), **values})
    write_text(Path(decision), decision_markdown(result))
    return result


def register_step(payload: str, promote: bool, artifacts: dict[str, str], decision: str, registration: str,
                  metrics: Any) -> dict:
    """The register component's body: `saferlhf.registry.run_register` on the run's artifacts. It registers every
    model as `challenger`; with `promote` (the pipeline gate passed) `champion` moves to each model whose own gates
    and champion comparison pass, without it (the held branch) to none (`registry.promote` = false)."""
    inputs, _ = step_io("register", artifacts)
    data = json.loads(payload)  # the gate's verdict is an input of the stage: registry.promote AND promote
    data["config"]["promote"] = bool(promote) and data["config"].get("promote", True)
    result = run_stage(json.dumps(data, sort_keys=True), "register", inputs, {},
                       str(Path(registration).parent / "layout"))
    models = {name: m.get("action", m.get("skipped", "")) for name, m in result.models.items()}
    log_metrics(metrics, {"gate_passed": float(promote), **result.metrics})
    verdict = "gates passed: eligible for `champion`" if promote else "gates failed: registered as `challenger` only"
    rows = "\n".join(f"| {name} | {action} |" for name, action in models.items())
    gate = Path(decision).read_text() if Path(decision).is_file() else ""
    write_text(Path(registration), f"# Registration ({verdict})\n\n| model | action |\n|---|---|\n{rows}\n\n{gate}")
    return result


# ---------------------------------------------------------------- drift monitor


class DriftDetected(RuntimeError):
    """The monitor found drift and its step was asked to fail on it (the alert, like the CronJob's exit 1)."""


def monitor_metrics(summary: dict) -> dict:
    """What the monitor step logs on its Metrics artifact: verdict, drift share, unsafe rate against its ceiling,
    and per signal the drift test's score (p-value or distance) and verdict (1 = drifted)."""
    keys = ("drift_share", "unsafe_rate", "unsafe_rate_ceiling", "reference_unsafe_rate", "refusal_rate", "records",
            "reference_records", "skipped_lines")
    signals = {}
    for col, c in summary.get("columns", {}).items():
        signals.update({f"{col}.drift_score": c.get("score"), f"{col}.drifted": float(bool(c.get("drifted")))})
    return {"passed": float(summary["passed"]), **{k: summary.get(k) for k in keys}, **signals}


def monitor_step(payload: str, log: str, reference: str, fail_on_drift: bool, report: str, snapshot: str,
                 metrics: Any) -> dict:
    """The monitor component's body: `run_monitor` on the prediction log vs the reference (either, when empty, the
    `monitor` section's own), its Evidently HTML report and JSON snapshot copied to the outputs, `monitor_metrics`
    logged. With `fail_on_drift`, drift raises DriftDetected once the outputs are written, so the run fails."""
    from saferlhf.config import MonitorConfig
    from saferlhf.errors import UserError
    from saferlhf.monitor import run_monitor

    _, section, tracking = stage_config(payload)
    require_tracking_uri(tracking.tracking_uri, "monitor")
    task_dir = Path(report).parent
    scratch = task_dir / "monitoring"
    with error_note(task_dir):
        cfg = MonitorConfig.model_validate({**section.model_dump(), "log": log or section.log,
                                            "reference": reference or section.reference, "output_dir": str(scratch)})
        if not cfg.reference:  # the CLI's default (<output_root>/models/...) means nothing inside a step
            raise UserError("no drift reference: pass `reference` (a parquet/CSV path on a mounted volume or "
                            "models:/saferlhf-reward-onnx@champion)")
        # like the other steps, log to MLflow only when the pod (or `pipeline run`) names a tracking server or file
        on = tracking.tracking and bool(os.environ.get("MLFLOW_TRACKING_URI"))
        registry = tracking.model_copy(update={"tracking": on})
        summary = run_monitor(cfg, Layout(scratch / "layout"), registry).model_dump(mode="json")
        for src, dst in ((summary["report"], report), (summary["snapshot"], snapshot)):
            Path(dst).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        log_metrics(metrics, monitor_metrics(summary))
        shutil.rmtree(scratch, ignore_errors=True)
        summary = relocate({k: v for k, v in summary.items() if k != "history"},
                           {summary["report"]: report, summary["snapshot"]: snapshot})
        if fail_on_drift and not summary["passed"]:
            raise DriftDetected(f"drift detected: drifted signals {', '.join(summary['drifted_columns']) or 'none'}; "
                                f"failed tests: {'; '.join(summary['failed_tests'])}")
    return summary
