"""`saferlhf <stage> ...`: every stage runnable alone (`saferlhf --help`).

`core` holds the root app and the command generator; importing `stages` (data, reward, policy, evaluate, probe,
serve, monitor, dashboard) and then `ops` (pipeline, registry) registers their commands, in that order."""

from saferlhf.cli import stages  # noqa: F401,I001 - registers the stage commands on `app` (first in --help)
from saferlhf.cli import ops  # noqa: F401 - registers the pipeline and registry commands
from saferlhf.cli import trainjob  # noqa: F401 - registers `trainjob run` (Kubeflow Trainer)
from saferlhf.cli.core import app, main

__all__ = ["app", "main"]
