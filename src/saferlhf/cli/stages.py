"""Stage commands: data, reward, policy, evaluate, probe, serve, monitor, dashboard (each generated from its
config class by `stage_command`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from saferlhf.cli.core import adapter, app, register_stages, resolve_stage, stage_command
from saferlhf.errors import UserError

registry_app = typer.Typer(help="MLflow model registry: register, gate, promote, roll back.", no_args_is_help=True)
data_app = typer.Typer(help="Dataset: generate the safety dataset, validate files.", no_args_is_help=True)
reward_app = typer.Typer(help="Reward model: train, evaluate.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(reward_app, name="reward")


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


@stage_command(data_app, "contrast", "contrast")
def data_contrast(cfg, layout):
    """The policy's own answers under a safety- and a compliance-steering system prompt (RLCD), kept where the
    refusal detector agrees with the label -> safety_labels_contrast.csv (train the reward model on it)."""
    from saferlhf.policy.generate import run_contrast

    return run_contrast(cfg, layout)


@stage_command(reward_app, "evaluate", "reward")
def reward_evaluate(cfg, layout):
    """Evaluate a saved reward model on the test split (MAE, ECE, MC-dropout, pairwise accuracy)."""
    from saferlhf.reward import run_evaluate

    return run_evaluate(cfg, layout)


@stage_command(app, "serve", "serve")
def serve(cfg, layout):
    """Start the scoring service (KServe V2 + /v1/score) on ONNX Runtime; no torch is imported."""
    return adapter("serving.launch").serve(cfg, layout.root)


policy_app = typer.Typer(help="Policy: base policy, sampling, RL fine-tuning.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@stage_command(policy_app, "generate", "generate")
def policy_generate(cfg, layout):
    """Sample responses from a saved policy for a prompt file (batched, KV cache) -> JSON."""
    from saferlhf.policy import run_generate

    return run_generate(cfg, layout)


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


def monitor_run(cfg, layout):
    """Evidently drift report of the log's window vs the reference; exit 0 when the tests pass, 1 on drift."""
    from saferlhf.monitor import run_monitor

    summary = run_monitor(cfg, layout)  # logs its own MLflow run (report, snapshot, history as artifacts)
    typer.echo(json.dumps(summary.view(), indent=2, default=str))
    if not summary.passed:
        typer.echo(f"drift detected: drifted columns {summary.drifted_columns or 'none'}; failed tests: "
                   f"{'; '.join(summary.failed_tests)}", err=True)
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

    _, layout, _ = resolve_stage(ctx, "monitor", None, {})
    labels = load_labels(data_path or layout.labels)
    result = run_simulate(endpoint, labels, profile, n, seed, batch_size, allow_remote, max_seconds=max_seconds)
    typer.echo(json.dumps(result, indent=2))


@stage_command(app, "dashboard", "dashboard")
def dashboard(cfg, layout, config_path=None):
    """Serve the Streamlit dashboard (`streamlit run dashboard/app.py`, headless) on --host:--port."""
    import os

    from saferlhf.dashboard_live import streamlit_command

    argv, env = streamlit_command(cfg, layout, config_path)
    typer.echo(f"dashboard: http://{cfg.host}:{cfg.port}  (outputs: {env['SAFERLHF_OUTPUT_ROOT']})", err=True)
    os.execve(argv[0], argv, {**os.environ, **env})


register_stages({"data": data_app, "reward": reward_app, "policy": policy_app, "monitor": monitor_app,
                 "registry": registry_app}, {"monitor-drift": monitor_run})
