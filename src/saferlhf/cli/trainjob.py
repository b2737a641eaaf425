"""`saferlhf trainjob run`: run a distributed stage as a Kubeflow Trainer v2 TrainJob and wait for it (what a
pipeline step calls on a cluster; `saferlhf.trainjob` builds the body, `saferlhf.trainjob_launch` talks to the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from saferlhf.cli.core import app

trainjob_app = typer.Typer(help="Kubeflow Trainer: run reward training, policy init or RL as a TrainJob.",
                           no_args_is_help=True)
app.add_typer(trainjob_app, name="trainjob")


@trainjob_app.command("run")
def trainjob_run(
        stage: str = typer.Option(..., "--stage", help="train-reward, init-policy or train-rl."),
        name: str = typer.Option(..., "--name", help="TrainJob name (DNS-1035 label)."),
        image: str = typer.Option(..., "--image", help="Image of the training nodes (saferlhf-gpu:<version> for GPUs)."),
        config_path: str = typer.Option(..., "--config-path", help="YAML config as the nodes see it (shared volume)."),
        output_root: str = typer.Option(..., "--output-root", help="Output root as the nodes see it (shared volume)."),
        num_nodes: int = typer.Option(1, "--num-nodes", min=1, help="Training nodes."),
        gpus_per_node: int = typer.Option(0, "--gpus-per-node", min=0, help="GPUs per node = processes per node (0: one CPU process)."),
        namespace: str = typer.Option("default", "--namespace", help="Namespace of the TrainJob."),
        api: Optional[str] = typer.Option(None, "--api", help="Kubernetes API URL (default: the pod's in-cluster API and service-account token)."),
        token_file: Optional[Path] = typer.Option(None, "--token-file", help="Bearer token file for --api (in a pod: the service account's)."),
        keep: bool = typer.Option(False, "--keep/--delete", help="Keep the finished TrainJob (default: delete it)."),
        log_file: Optional[Path] = typer.Option(None, "--log-file", help="Where node 0's logs are saved."),
        poll_seconds: float = typer.Option(10.0, "--poll-seconds", min=0.1, help="Status poll interval."),
        timeout_seconds: float = typer.Option(86400.0, "--timeout-seconds", min=1, help="Give up (and fail) after this long.")):
    """Create the TrainJob, wait for Complete/Failed, save node 0's logs; exit 2 with the job's reason on failure."""
    from saferlhf.trainjob import trainjob_body
    from saferlhf.trainjob_launch import KubeAPI, run_trainjob

    body = trainjob_body(stage, name, image, config_path, output_root, num_nodes=num_nodes,
                         gpus_per_node=gpus_per_node, namespace=namespace)
    token = token_file.read_text().strip() if token_file else None
    client = KubeAPI(api, token) if api else KubeAPI.from_cluster()
    out = run_trainjob(client, body, namespace, poll_s=poll_seconds, timeout_s=timeout_seconds, keep=keep,
                       log_file=log_file)
    typer.echo(json.dumps({"name": out.name, "succeeded": out.succeeded, "reason": out.reason}, indent=2))
