"""Run the pipeline: locally through kfp.local (each step a subprocess of this Python, no Docker) or on a Kubeflow
Pipelines cluster through `kfp.Client`. The CLI (`saferlhf pipeline ...`) imports this lazily."""

import contextlib
import logging
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp import compiler, local

from pipelines import monitor_pipeline as monitor, platform, saferlhf_pipeline as training
from saferlhf.artifacts import Layout
from saferlhf.errors import UserError
from saferlhf.pipeline import source_hash
from saferlhf.pipeline.platform import SHARED_HOST_ENV
from saferlhf.pipeline.progress import Progress, captured, metrics_headline, terminal_writer
from saferlhf.stages import ASSESSMENTS, STAGE

log = logging.getLogger(__name__)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class StepFailed(UserError):
    """A pipeline step failed: one line naming the step (and its error when the step left one), exit code 1."""

    exit_code = 1


@dataclass(frozen=True)
class Pipeline:
    func: Any  # the @dsl.pipeline function
    name: str  # its KFP name (local run folders start with it)
    compiled: Path  # the checked-in spec


PIPELINES = {"saferlhf": Pipeline(training.saferlhf_pipeline, training.PIPELINE_NAME, training.COMPILED),
             "monitor": Pipeline(monitor.monitor_pipeline, monitor.PIPELINE_NAME, monitor.COMPILED)}


def get_pipeline(name: str) -> Pipeline:
    if name not in PIPELINES:
        raise UserError(f"unknown pipeline {name!r}; known: {', '.join(PIPELINES)}")
    return PIPELINES[name]


def compile_all(folder: Path | None = None, settings: platform.Platform = platform.Platform()) -> list[Path]:
    """Write every pipeline's spec YAML to its checked-in place, or into `folder` under the same file names
    (deterministic for the same source and SAFERLHF_IMAGE); `settings`: the ConfigMap/Secret names the steps read."""
    paths = []
    for p in PIPELINES.values():
        path = folder / p.compiled.name if folder else p.compiled
        path.parent.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(platform.build(p.func, settings), str(path))
        paths.append(path)
    return paths


@dataclass
class LocalRun:
    outputs: dict[str, str]  # pipeline output name -> local path
    run_dir: Path | None
    executed: list[str] = field(default_factory=list)  # steps that ran (the rest were cache hits or skipped)
    seconds: float = 0.0
    values: dict[str, Any] = field(default_factory=dict)  # pipeline output name -> parameter value


def check_params(params: dict, pipeline: str = "saferlhf") -> dict:
    """Unknown parameter names fail here, in one line, before anything runs or is uploaded. A number given to a
    string parameter (`--param window=5000` parses as JSON) is passed as written."""
    inputs = get_pipeline(pipeline).func.component_spec.inputs or {}
    unknown = sorted(set(params) - set(inputs))
    if unknown:
        raise UserError(f"unknown pipeline parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(inputs))}")
    return {k: str(v) if inputs[k].type == "String" and type(v) in (int, float) else v for k, v in params.items()}


def _run_dir(root: Path, started: float, name: str) -> Path | None:
    runs = [p for p in root.glob(f"{name}-*") if p.is_dir() and p.stat().st_mtime >= started - 1]
    return max(runs, key=lambda p: p.stat().st_mtime, default=None)


def executed_steps(run_dir: Path | None) -> list[str]:
    """Steps that actually ran in this run: only they leave an executor_output.json in the run folder."""
    if run_dir is None:
        return []
    return sorted({p.parent.name for p in run_dir.rglob("executor_output.json")})


def _failure(message: str, run_dir: Path | None, log_file: Path | None = None) -> StepFailed:
    """kfp's "Inner task failed: 'a' inside 'b'" -> one line naming the innermost step and its error.txt."""
    text = ANSI.sub("", message)
    steps = re.findall(r"'([^']+)'", text.split("Inner task failed:")[-1]) if "Inner task failed" in text else []
    step = re.sub(r"-iteration-\d+$", "", steps[0]) if steps else "unknown step"
    errors = sorted(run_dir.rglob(f"{step}/error.txt"), key=lambda p: p.stat().st_mtime) if run_dir else []
    detail = f": {errors[-1].read_text().strip()}" if errors else ""
    logs = f"logs in {log_file}" if log_file else "logs above"
    where = f"; {logs}, files in {run_dir}" if run_dir else f"; {logs}"
    return StepFailed(f"pipeline step {step!r} failed{detail}{where}")


@contextlib.contextmanager
def _tracking_env(layout: Layout):
    """Stages log to outputs/mlflow.db unless MLFLOW_TRACKING_URI points elsewhere, and know they share this
    machine (saferlhf.pipeline.steps.share_cpus); child processes inherit both."""
    set_here = {k: v for k, v in (("MLFLOW_TRACKING_URI", f"sqlite:///{layout.mlflow_db.resolve()}"),
                                  (SHARED_HOST_ENV, "1")) if k not in os.environ}
    os.environ.update(set_here)
    try:
        yield
    finally:
        for k in set_here:
            os.environ.pop(k, None)


def _keys(task: str) -> tuple[str, ...]:
    """The metrics `pipeline run` shows when a step finishes: its stage's result KEY, else the plumbing step's."""
    if task in STAGE:
        return STAGE[task].result_model().KEY
    if task == "assess-policies":
        return tuple(k for name in ASSESSMENTS for k in STAGE[name].result_model().KEY)
    return {"promotion-gate": ("passed",), "register": ("gate_passed",)}.get(task, ())


def run_local(config_text: str, params: dict, layout: Layout, parent_run=contextlib.nullcontext,
              pipeline: str = "saferlhf", stream: bool = False, progress_fd: int = 1) -> LocalRun:
    """A whole pipeline (PIPELINES) through kfp.local.SubprocessRunner(use_venv=False) with kfp.local's step cache
    on (under <output_root>/pipeline_runs/.kfp_cache). `parent_run` wraps the run (an MLflow parent run). Unless
    `stream`, what the steps print goes to <output_root>/pipeline_runs/logs/<pipeline>-<time>.log and the terminal
    gets one line per step (saferlhf.pipeline.progress)."""
    spec = get_pipeline(pipeline)
    params = check_params(params, pipeline)
    root = layout.pipeline_root
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), enable_caching=True,
               raise_on_error=True)
    started = time.time()
    log_file = root / "logs" / f"{pipeline}-{time.strftime('%Y%m%dT%H%M%S')}.log"
    if stream:
        quiet = contextlib.nullcontext()
    else:
        write = terminal_writer(progress_fd)
        write(f"pipeline {spec.name}: step output goes to {log_file}")
        quiet = captured(log_file, Progress(write, metrics_headline(root, started, _keys)))
    with warnings.catch_warnings(), _tracking_env(layout), parent_run():
        # "image has no python", "resources have no local effect": true, and said once in docs/pipeline.md
        warnings.simplefilter("ignore")
        try:
            with quiet:
                task = platform.build(spec.func, platform.LOCAL)(
                    **{"config": config_text, "code_version": source_hash(), **params})
        except RuntimeError as e:
            raise _failure(str(e), _run_dir(root, started, spec.name), None if stream else log_file) from None
    run_dir = _run_dir(root, started, spec.name)
    outputs = {name: art.path for name, art in task.outputs.items() if getattr(art, "path", None)}
    values = {name: v for name, v in task.outputs.items() if not hasattr(v, "path")}
    return LocalRun(outputs, run_dir, executed_steps(run_dir), time.time() - started, values)


def read_token(token: str | None) -> str | None:
    """--token / $KF_PIPELINES_TOKEN, else the file named by $KF_PIPELINES_SA_TOKEN_PATH (a projected service
    account token, as in-cluster clients use)."""
    if token:
        return token.strip()
    path = os.environ.get("KF_PIPELINES_SA_TOKEN_PATH")
    if path:
        if not Path(path).is_file():
            raise UserError(f"KF_PIPELINES_SA_TOKEN_PATH points to {path}, which does not exist")
        return Path(path).read_text().strip()
    return None


def submit(host: str, params: dict, namespace: str | None = None, experiment: str | None = None,
           run_name: str | None = None, token: str | None = None, wait: bool = False,
           timeout: int = 6 * 3600, package: Path | None = None, pipeline: str = "saferlhf",
           service_account: str | None = None) -> dict:
    """Upload a compiled spec (default: the pipeline's checked-in one) as a run
    (`kfp.Client.create_run_from_pipeline_package`); returns run id, URL and, with `wait`, the final state."""
    import kfp
    import urllib3
    from kfp_server_api.exceptions import ApiException

    params = check_params(params, pipeline)
    package = package or get_pipeline(pipeline).compiled
    if not package.is_file():
        raise UserError(f"{package} not found; run `saferlhf pipeline compile` first")
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # retry warnings would bury the error line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "client only works with KFP >= 2.0.0-beta.2": we target v2beta1
            client = kfp.Client(host=host, namespace=namespace or "kubeflow", existing_token=read_token(token))
            result = client.create_run_from_pipeline_package(
                str(package), arguments=params, run_name=run_name, experiment_name=experiment, namespace=namespace,
                service_account=service_account)
            out = {"run_id": result.run_id, "url": f"{host.rstrip('/')}/#/runs/details/{result.run_id}"}
            if wait:
                run = result.wait_for_run_completion(timeout)
                out["state"] = str(run.state)
    except (urllib3.exceptions.HTTPError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise UserError(f"cannot reach Kubeflow Pipelines at {host} ({type(reason).__name__}); is the port-forward "
                        "or ingress up?") from None
    except ApiException as e:
        raise UserError(f"Kubeflow Pipelines at {host} answered {e.status} {e.reason}: "
                        f"{(e.body or '').strip()[:200]}") from None
    return out
