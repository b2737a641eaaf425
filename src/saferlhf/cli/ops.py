"""Operations commands: the Kubeflow pipeline (compile, run locally, submit) and the MLflow registry (register,
list, show, promote, roll back)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import typer

from saferlhf.artifacts import Layout
from saferlhf.cli.core import CONFIG_HELP, adapter, app, resolve_stage
from saferlhf.cli.stages import registry_app
from saferlhf.config import load_config
from saferlhf.errors import UserError
from saferlhf.pipeline.platform import CONFIG_MAP, SECRET

pipeline_app = typer.Typer(help="Kubeflow pipeline: compile, run locally (kfp.local), submit to a cluster.",
                            no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(registry_app, name="registry")


def _pipelines(module: str):
    """`pipelines.<module>`, imported lazily (kfp loads only for these commands)."""
    return adapter(f"pipelines.{module}")


PIPELINE_HELP = "Which pipeline: saferlhf (train, assess, register) or monitor (drift check of the scorer's log)."


@pipeline_app.command("compile")
def pipeline_compile(output_dir: Optional[Path] = typer.Option(None, "--output-dir", "-o",
                                                               help="Folder to write to (default: pipelines/, where the specs are checked in)."),
                     config_map: str = typer.Option(CONFIG_MAP, help="ConfigMap the steps take MLFLOW_TRACKING_URI from (in the run's namespace)."),
                     secret: str = typer.Option(SECRET, help="Secret the steps take MLflow credentials from, when it exists.")):
    """Compile both pipelines to their KFP v2 spec YAMLs (saferlhf_pipeline.yaml, monitor_pipeline.yaml)."""
    for name, value in (("--config-map", config_map), ("--secret", secret)):
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", value):
            raise UserError(f"{name} {value!r} is not a Kubernetes object name (lower-case letters, digits, '-', '.')")
    platform = _pipelines("platform")
    for path in _pipelines("runner").compile_all(output_dir, platform.Platform(config_map, secret)):
        typer.echo(str(path))


@pipeline_app.command("run")
def pipeline_run(ctx: typer.Context,
                 config: Optional[Path] = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
                 param: list[str] = typer.Option([], "--param", "-p", help="Pipeline parameter name=value (repeatable)."),
                 publish: bool = typer.Option(True, help="Copy the run's artifacts into the output root's layout."),
                 pipeline: str = typer.Option("saferlhf", "--pipeline", help=PIPELINE_HELP),
                 stream_logs: bool = typer.Option(False, "--stream-logs", help="Print everything the steps print (default: one line per step; the rest goes to a log file under <output_root>/pipeline_runs/logs).")):
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
        result = runner.run_local(path.read_text() if path else "", parse_params(param), layout, pipeline=pipeline,
                                  stream=stream_logs, progress_fd=2)  # stdout: the JSON verdict alone
        typer.echo(json.dumps({**result.values, **result.outputs, "run_dir": str(result.run_dir)}, indent=2))
        return
    result = runner.run_local(path.read_text() if path else "", parse_params(param), layout,
                              lambda: mlflow_parent(cfg.registry, layout), pipeline, stream=stream_logs)
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


def _registry(ctx: typer.Context):
    """Connect mlflow to the configured store; returns the `registry` config section."""
    from saferlhf.tracking import connect

    cfg, layout, _ = resolve_stage(ctx, "registry", None, {})
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
