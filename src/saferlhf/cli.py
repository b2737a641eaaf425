"""`saferlhf <stage> ...`: every stage runnable alone.

Stage commands are generated from the stage's config class: one `--flag` per field, its help the field's
docstring, so the YAML, the CLI, the KFP components and the tests all build the same object. Precedence:
flag > YAML section (`--config`) > default."""

from __future__ import annotations

import inspect
import json
import logging
import sys
import types
import typing
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from saferlhf.artifacts import Layout
from saferlhf.config import Config, StageConfig, load_config, override
from saferlhf.errors import UserError

log = logging.getLogger("saferlhf")

app = typer.Typer(help="SafeRLHF: safety RLHF as an MLOps system.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
data_app = typer.Typer(help="Dataset: generate the safety dataset, validate files.", no_args_is_help=True)
reward_app = typer.Typer(help="Reward model: train, evaluate.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(reward_app, name="reward")

CONFIG_HELP = "YAML config (configs/<name>.yaml); its stage section is the base that flags override."


@app.callback()
def _root(ctx: typer.Context,
          config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
          output_root: Optional[Path] = typer.Option(None, "--output-root", help="Root of all outputs (default: outputs)."),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    ctx.obj = {"config": config, "output_root": output_root}


def _cli_type(annotation: Any):
    """Map a config field's type to a type Typer can parse (None = YAML-only field)."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _cli_type(args[0])
    if origin is typing.Literal:
        return str
    if origin in (tuple, list):
        return str  # comma-separated on the command line
    if annotation in (int, float, str, bool):
        return annotation
    return None


def _parse_value(field_info, value: Any) -> Any:
    origin = typing.get_origin(field_info.annotation)
    if isinstance(value, str) and origin in (tuple, list):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


def resolve_stage(ctx: typer.Context, section: str, local_config: Path | None, flags: dict) -> tuple[StageConfig, Layout]:
    """Build the stage config (YAML section + flags) and the output layout."""
    obj = ctx.find_root().obj or {}
    cfg: Config = load_config(local_config or obj.get("config"))
    stage_cfg = override(getattr(cfg, section), flags)
    root = obj.get("output_root") or cfg.output_root
    return stage_cfg, Layout(Path(root))


def track_stage(ctx: typer.Context, local_config: Path | None, section: str, name: str, stage_cfg: StageConfig,
                layout: Layout, result: dict | None) -> None:
    """Log a finished stage to MLflow (config section `registry`; SAFERLHF_TRACKING=0 turns it off). A tracking
    failure is a warning: the stage's outputs are already on disk."""
    if section in ("registry", "monitor"):  # `registry register` and `monitor run` log their own runs
        return
    if section == "serve":  # a long-running service, not a stage run (and keeps mlflow out of its process)
        return
    obj = ctx.find_root().obj or {}
    from saferlhf.tracking import track_stage as log_to_mlflow

    log_to_mlflow(load_config(local_config or obj.get("config")).registry, layout, section, stage_cfg, result, name)


def stage_command(group: typer.Typer, name: str, section: str):
    """Register `fn(cfg, layout) -> dict` as a command whose flags are the fields of `Config.<section>`."""
    cls = Config.model_fields[section].annotation

    def decorator(fn):
        params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
                  inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                                    default=typer.Option(None, "--config", "-c", help=CONFIG_HELP))]
        for fname, finfo in cls.model_fields.items():
            t = _cli_type(finfo.annotation)
            if t is None:
                continue
            flag = "--" + fname.replace("_", "-")
            decls = [f"{flag}/--no-{fname.replace('_', '-')}"] if t is bool else [flag]
            params.append(inspect.Parameter(fname, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[t],
                                            default=typer.Option(None, *decls, help=finfo.description,
                                                                 show_default=False)))

        def command(ctx: typer.Context, config: Optional[Path] = None, **flags):
            flags = {k: _parse_value(cls.model_fields[k], v) for k, v in flags.items()}
            stage_cfg, layout = resolve_stage(ctx, section, config, flags)
            result = fn(stage_cfg, layout)
            track_stage(ctx, config, section, fn.__name__, stage_cfg, layout, result)
            if result is not None:
                typer.echo(json.dumps(result, indent=2, default=str))

        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = fn.__doc__
        group.command(name)(command)
        return fn

    return decorator


@stage_command(data_app, "generate", "data")
def data_generate(cfg, layout):
    """Generate prompts.json and safety_labels.csv (deterministic for a seed)."""
    from saferlhf.data import run_generate

    return run_generate(cfg, layout)


@data_app.command("validate")
def data_validate(path: Path = typer.Argument(..., help="safety_labels.csv, or a prompt file (.json/.jsonl/.csv/.txt)."),
                  kind: str = typer.Option("auto", help="labels | prompts | auto (labels when the CSV has a response column).")):
    """Check a dataset or prompt file; one line per problem, exit code 2 on the first."""
    from saferlhf.data.loader import load_labels, load_prompts

    if kind not in ("auto", "labels", "prompts"):
        raise UserError(f"--kind must be labels, prompts or auto, got {kind!r}")
    if kind == "auto":
        head = path.read_text(errors="replace").split("\n", 1)[0] if path.is_file() else ""
        kind = "labels" if path.suffix.lower() == ".csv" and "response" in head.split(",") else "prompts"
    n = len(load_labels(path)) if kind == "labels" else len(load_prompts(path))
    typer.echo(f"{path}: ok ({n} {'rows' if kind == 'labels' else 'prompts'})")


@stage_command(reward_app, "train", "reward")
def reward_train(cfg, layout):
    """Train the four-head reward model on the train split, save it, evaluate it on the test split."""
    from saferlhf.reward import run_train

    return _headline(run_train(cfg, layout))


@stage_command(reward_app, "evaluate", "reward")
def reward_evaluate(cfg, layout):
    """Evaluate a saved reward model on the test split (MAE, ECE, MC-dropout, pairwise accuracy)."""
    from saferlhf.reward import run_evaluate

    return _headline(run_evaluate(cfg, layout))


@stage_command(app, "evaluate", "evaluate")
def policy_evaluate(cfg, layout):
    """Compare base and RL policies on held-out prompts: unsafe %, reward shift, KL, toxicity/hallucination/
    compliance change, calibration, adversarial robustness, over-refusal -> evaluation_results.json + plots."""
    from saferlhf.evaluate import run_evaluate

    result = run_evaluate(cfg, layout)
    return {k: v for k, v in result.items() if k not in ("per_category_unsafe_pct", "plots")}


@stage_command(app, "probe", "probe")
def policy_probe(cfg, layout):
    """Run the six safety probes on base and RL policies -> probes_report.json (add your prompts: --prompts-path)."""
    from saferlhf.probes import run_probe

    return run_probe(cfg, layout)


@stage_command(reward_app, "export-onnx", "export")
def reward_export_onnx(cfg, layout):
    """Export the reward model to ONNX (fp32; `--quantize int8` adds INT8) and check parity against PyTorch."""
    from saferlhf.onnx_export import run_export

    return run_export(cfg, layout)


@stage_command(app, "serve", "serve")
def serve(cfg, layout):
    """Start the scoring service (KServe V2 + /v1/score) on ONNX Runtime; no torch is imported."""
    import importlib

    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "serving" / "app.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return importlib.import_module("serving.launch").serve(cfg, layout.root)
    raise UserError("serving/app.py not found: run from the repository root (or /app in the image)")


def _headline(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "reliability"}


policy_app = typer.Typer(help="Policy: base policy, sampling, RL fine-tuning.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@stage_command(policy_app, "init", "policy")
def policy_init(cfg, layout):
    """Build the base policy (small GPT-2 from scratch, or --model-name) on the dataset's prompt->response pairs."""
    from saferlhf.policy import run_init

    return {k: v for k, v in run_init(cfg, layout).items() if k != "loss_history"}


@stage_command(policy_app, "generate", "generate")
def policy_generate(cfg, layout):
    """Sample responses from a saved policy for a prompt file (batched, KV cache) -> JSON."""
    from saferlhf.policy import run_generate

    return run_generate(cfg, layout)


@stage_command(policy_app, "train-rl", "rl")
def policy_train_rl(cfg, layout):
    """RL fine-tuning with TRL GRPO (PPO-clip + KL to the frozen base), adaptive KL, optional Lagrangian cost."""
    from saferlhf.rl import run_train_rl

    return {k: v for k, v in run_train_rl(cfg, layout).items() if k != "history"}


class _DefaultRunGroup(TyperGroup):
    """`saferlhf monitor --log X ...` means `saferlhf monitor run --log X ...`: options given before any
    subcommand go to `run`, so the short form and `monitor simulate` live side by side."""

    def parse_args(self, ctx, args):
        if args and args[0].startswith("-") and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


monitor_app = typer.Typer(cls=_DefaultRunGroup, no_args_is_help=True,
                          help="Drift monitoring: `monitor run --log ... --reference ...` (or just `monitor --log ...`) checks the scorer's "
                               "prediction log against the reference (exit 0 pass, 1 drift, 2 bad input); "
                               "`monitor simulate` sends loopback traffic to the scorer.")
app.add_typer(monitor_app, name="monitor")


@stage_command(monitor_app, "run", "monitor")
def monitor_run(cfg, layout):
    """Evidently drift report of the log's window vs the reference; exit 0 when the tests pass, 1 on drift."""
    from saferlhf.monitor import run_monitor

    summary = run_monitor(cfg, layout)  # logs its own MLflow run (report, snapshot, history as artifacts)
    typer.echo(json.dumps({k: v for k, v in summary.items() if k != "tests"}, indent=2, default=str))
    if not summary["passed"]:
        typer.echo(f"drift detected: drifted columns {summary['drifted_columns'] or 'none'}; failed tests: "
                   f"{'; '.join(summary['failed_tests'])}", err=True)
        raise typer.Exit(1)


@monitor_app.command("simulate")
def monitor_simulate(
        ctx: typer.Context,
        endpoint: str = typer.Option(..., "--endpoint", help="Scorer base URL (e.g. http://127.0.0.1:8000) or its /v1/score URL."),
        profile: str = typer.Option("normal", "--profile", help="normal | jailbreak-surge | toxic-shift."),
        n: int = typer.Option(200, "--n", "-n", help="Items to send (bounded)."),
        seed: int = typer.Option(0, "--seed", help="Random seed of the traffic mix and order."),
        batch_size: int = typer.Option(16, "--batch-size", help="Items per request."),
        data_path: Optional[Path] = typer.Option(None, "--data-path", help="Labelled CSV (default: <output_root>/data/safety_labels.csv)."),
        allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a non-loopback endpoint (off: only 127.0.0.1/localhost)."),
        max_seconds: float = typer.Option(600.0, "--max-seconds", help="Stop sending after this many seconds.")):
    """Send bounded synthetic traffic built from the dataset to the scorer (token: env SAFERLHF_API_TOKEN)."""
    from saferlhf.data.loader import load_labels
    from saferlhf.monitor.simulate import run_simulate

    _, layout = resolve_stage(ctx, "monitor", None, {})
    labels = load_labels(data_path or layout.labels)
    result = run_simulate(endpoint, labels, profile, n, seed, batch_size, allow_remote, max_seconds=max_seconds)
    typer.echo(json.dumps(result, indent=2))


pipeline_app = typer.Typer(help="Kubeflow pipeline: compile, run locally (kfp.local), submit to a cluster.",
                            no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")


def _pipelines(module: str):
    """Import `pipelines.<module>` lazily (kfp loads only for these commands) from the repository root."""
    import importlib

    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / "pipelines" / "saferlhf_pipeline.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return importlib.import_module(f"pipelines.{module}")
    raise UserError("pipelines/saferlhf_pipeline.py not found: run from the repository root (or /app in the image)")


PIPELINE_HELP = "Which pipeline: saferlhf (train, assess, register) or monitor (drift check of the scorer's log)."


@pipeline_app.command("compile")
def pipeline_compile(output_dir: Optional[Path] = typer.Option(None, "--output-dir", "-o",
                                                               help="Folder to write to (default: pipelines/, where the specs are checked in).")):
    """Compile both pipelines to their KFP v2 spec YAMLs (saferlhf_pipeline.yaml, monitor_pipeline.yaml)."""
    for path in _pipelines("runner").compile_all(output_dir):
        typer.echo(str(path))


@pipeline_app.command("run")
def pipeline_run(ctx: typer.Context,
                 config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
                 param: list[str] = typer.Option([], "--param", "-p", help="Pipeline parameter name=value (repeatable)."),
                 publish: bool = typer.Option(True, help="Copy the run's artifacts into the output root's layout."),
                 pipeline: str = typer.Option("saferlhf", "--pipeline", help=PIPELINE_HELP)):
    """Run the whole pipeline locally (kfp.local, one subprocess per step, step cache on), publish it to outputs/
    and print a summary (the monitor pipeline: its verdict and where its report is, as JSON)."""
    from saferlhf.pipeline import parse_params
    from saferlhf.pipeline.publish import publish as publish_run, render_summary
    from saferlhf.tracking import pipeline_run as mlflow_parent

    obj = ctx.find_root().obj or {}
    path = config or obj.get("config")
    cfg = load_config(path)  # bad config -> one line now, not a failed step later
    layout = Layout(Path(obj.get("output_root") or cfg.output_root))
    runner = _pipelines("runner")
    if pipeline == "monitor":  # no parent run: the monitor logs its own `monitor` run, as `saferlhf monitor` does
        result = runner.run_local(path.read_text() if path else "", parse_params(param), layout, pipeline=pipeline)
        typer.echo(json.dumps({**result.values, **result.outputs, "run_dir": str(result.run_dir)}, indent=2))
        return
    result = runner.run_local(path.read_text() if path else "", parse_params(param), layout,
                              lambda: mlflow_parent(cfg.registry, layout), pipeline)
    published = publish_run(result.outputs, layout) if publish else result.outputs
    promotion = Path(result.outputs.get("promotion", ""))
    render_summary(layout, published, result.executed, result.seconds,
                   promotion.read_text() if promotion.is_file() else None)


@pipeline_app.command("submit")
def pipeline_submit(ctx: typer.Context,
                    host: str = typer.Option(..., "--host", help="KFP API URL, e.g. http://localhost:8888 (port-forward)."),
                    config: Optional[Path] = typer.Option(None, "--config", "-c",
                                                          help="YAML sent inline as the `config` parameter (default: the image's configs/demo.yaml)."),
                    namespace: Optional[str] = typer.Option(None, help="Kubeflow profile namespace (multi-user)."),
                    experiment: Optional[str] = typer.Option(None, help="Experiment name (default: Default)."),
                    run_name: Optional[str] = typer.Option(None, help="Run name (default: file name + time)."),
                    param: list[str] = typer.Option([], "--param", "-p", help="Pipeline parameter name=value (repeatable)."),
                    token: Optional[str] = typer.Option(None, envvar="KF_PIPELINES_TOKEN",
                                                        help="Bearer token (else the file at $KF_PIPELINES_SA_TOKEN_PATH)."),
                    wait: bool = typer.Option(False, help="Wait for the run; exit 1 unless it succeeds."),
                    timeout: int = typer.Option(6 * 3600, help="Seconds --wait waits."),
                    pipeline: str = typer.Option("saferlhf", "--pipeline", help=PIPELINE_HELP),
                    service_account: Optional[str] = typer.Option(
                        None, help="Kubernetes service account the run's pods use (e.g. saferlhf-pipeline-runner).")):
    """Submit a compiled pipeline (pipelines/saferlhf_pipeline.yaml, or monitor_pipeline.yaml) to a Kubeflow
    Pipelines cluster."""
    from saferlhf.pipeline import parse_params

    params = parse_params(param)
    path = config or (ctx.find_root().obj or {}).get("config")
    if path and "config" not in params:
        load_config(path)  # a bad file fails here, not in the cluster
        params["config"] = path.read_text()
    out = _pipelines("runner").submit(host, params, namespace, experiment, run_name, token, wait, timeout,
                                      pipeline=pipeline, service_account=service_account)
    typer.echo(f"run {out['run_id']}: {out['url']}")
    if wait:
        typer.echo(f"final state: {out['state']}")
        if out["state"].upper() != "SUCCEEDED":
            raise typer.Exit(1)


@stage_command(app, "dashboard", "dashboard")
def dashboard(cfg, layout):
    """Serve the Streamlit dashboard (`streamlit run dashboard/app.py`, headless) on --host:--port."""
    import os

    try:  # typer >= 0.20 vendors click: its context stack is typer's own
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context

    from saferlhf.dashboard_live import streamlit_command

    ctx = get_current_context()
    argv, env = streamlit_command(cfg, layout, ctx.params.get("config") or (ctx.find_root().obj or {}).get("config"))
    typer.echo(f"dashboard: http://{cfg.host}:{cfg.port}  (outputs: {env['SAFERLHF_OUTPUT_ROOT']})", err=True)
    os.execve(argv[0], argv, {**os.environ, **env})


registry_app = typer.Typer(help="MLflow model registry: register, gate, promote, roll back.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")


@stage_command(registry_app, "register", "registry")
def registry_register(cfg, layout):
    """Register the current reward model, ONNX export and RL policy as new versions (alias `challenger`); move
    `champion` to each one whose safety gates pass against the current champion."""
    from saferlhf.registry import run_register

    result = run_register(cfg, layout)
    return {"run_id": result["run_id"], "metrics": result["metrics"],
            "models": {k: {f: v.get(f) for f in ("version", "action", "reason", "skipped") if f in v}
                       for k, v in result["models"].items()}}


def _registry(ctx: typer.Context):
    """Connect mlflow to the configured store; returns the `registry` config section."""
    from saferlhf.tracking import connect

    cfg, layout = resolve_stage(ctx, "registry", None, {})
    connect(cfg, layout)
    return cfg


MODEL_HELP = "Registered model: saferlhf-reward, saferlhf-reward-onnx or saferlhf-policy."


@registry_app.command("list")
def registry_list(ctx: typer.Context):
    """Registered models with their aliases and latest version."""
    from saferlhf.registry.promote import list_models

    _registry(ctx)
    typer.echo(json.dumps(list_models(), indent=2))


@registry_app.command("show")
def registry_show(ctx: typer.Context, model: str = typer.Option(..., "--model", help=MODEL_HELP)):
    """Every version of a model: aliases, gate results, metrics, decision and reason."""
    from saferlhf.registry.promote import describe

    _registry(ctx)
    typer.echo(json.dumps(describe(model), indent=2, default=str))


@registry_app.command("promote")
def registry_promote(ctx: typer.Context, model: str = typer.Option(..., "--model", help=MODEL_HELP),
                     version: str = typer.Option(..., "--version", help="Version number to promote to champion."),
                     force: bool = typer.Option(False, "--force", help="Promote even if gates fail (needs --reason)."),
                     reason: Optional[str] = typer.Option(None, "--reason", help="Why (recorded on the version).")):
    """Run the gates for a version against the champion and promote it when they pass; exit 1 when refused."""
    from saferlhf.registry.promote import promote

    decision = promote(model, version, _registry(ctx), force=force, reason=reason)
    typer.echo(json.dumps(decision, indent=2, default=str))
    if decision["action"] == "rejected":
        typer.echo(f"promotion refused: {decision['reason']}", err=True)
        raise typer.Exit(1)


@registry_app.command("rollback")
def registry_rollback(ctx: typer.Context, model: str = typer.Option(..., "--model", help=MODEL_HELP),
                      reason: Optional[str] = typer.Option(None, "--reason", help="Why (recorded).")):
    """Move `champion` back to the previous champion (recorded on the version and the model)."""
    from saferlhf.registry.promote import rollback

    _registry(ctx)
    typer.echo(json.dumps(rollback(model, reason), indent=2))


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        # standalone_mode=False makes click *return* a typer.Exit code instead of raising it
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as e:  # usage errors (Typer vendors its own click: catch both kinds)
        import click
        from typer._click.exceptions import ClickException as TyperClickException

        if isinstance(e, (click.ClickException, TyperClickException)):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
