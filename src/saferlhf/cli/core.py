"""The CLI's machinery: the root `app`, its global options, and `stage_command`, which generates a stage
command from the stage's config class (one `--flag` per field, its help the field's docstring), so the YAML, the
CLI, the KFP components and the tests all build the same object. Precedence: flag > YAML section (`--config`) >
default. `main` turns user errors into one line and exit code 2."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import sys
import types
import typing
from pathlib import Path
from typing import Any, Optional

import click
import typer

from saferlhf.artifacts import Layout
from saferlhf.config import Config, StageConfig, load_config, override
from saferlhf.errors import UserError
from saferlhf.results import StageResult
from saferlhf.stages import STAGE, STAGES, Stage

log = logging.getLogger("saferlhf")

app = typer.Typer(help="SafeRLHF: safety RLHF as an MLOps system.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
NPROC_HELP = ("Processes on this node (re-runs the command under `torchrun --standalone --nproc_per_node N`; "
              "gloo on CPU, NCCL on GPUs); 1 = this process.")
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


def resolve_stage(ctx: typer.Context, section: str, local_config: Path | None, flags: dict
                  ) -> tuple[StageConfig, Layout, Config]:
    """The stage config (YAML section + flags), the output layout and the whole config (loaded once)."""
    obj = ctx.find_root().obj or {}
    cfg: Config = load_config(local_config or obj.get("config"))
    stage_cfg = override(getattr(cfg, section), flags)
    root = obj.get("output_root") or cfg.output_root
    return stage_cfg, Layout(Path(root)), cfg


def _echo(result: Any) -> None:
    if result is not None:
        typer.echo(json.dumps(result.view() if isinstance(result, StageResult) else result, indent=2, default=str))


def stage_command(group: typer.Typer, name: str, section: str, step: str | None = None):
    """Register `fn(cfg, layout) -> result` as a command whose flags are the fields of `Config.<section>`.
    `step`: the stage-table stage it runs; a stage that does not log its own run is then tracked as that run
    (config section `registry`; SAFERLHF_TRACKING=0 turns it off; a tracking failure is a warning)."""
    cls = Config.model_fields[section].annotation

    def decorator(fn):
        wants_path = "config_path" in inspect.signature(fn).parameters  # e.g. the dashboard hands it on
        params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
                  inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                                    default=typer.Option(None, "--config", "-c", help=CONFIG_HELP))]
        nested = {f: (outer, info) for outer, f, info in _sub_fields(cls)}
        for fname, finfo in [*((f, i) for f, i in cls.model_fields.items() if f not in _blocks(cls)),
                             *((f, i) for f, (_, i) in nested.items())]:
            t = _cli_type(finfo.annotation)
            if t is None:
                continue
            flag = "--" + fname.replace("_", "-")
            decls = [f"{flag}/--no-{fname.replace('_', '-')}"] if t is bool else [flag]
            params.append(inspect.Parameter(fname, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[t],
                                            default=typer.Option(None, *decls, help=finfo.description,
                                                                 show_default=False)))

        def command(ctx: typer.Context, config: Optional[Path] = None, nproc: Optional[int] = None, **flags):
            from saferlhf import distributed

            if nproc and nproc > 1 and distributed.world_size() == 1:
                raise typer.Exit(distributed.launch(nproc, sys.argv[1:]))
            # block fields stay flat (`--temperature 0.7`): the config moves them into their block (`sampling`)
            flags = {k: _parse_value(nested[k][1] if k in nested else cls.model_fields[k], v) for k, v in flags.items()}
            stage_cfg, layout, root_cfg = resolve_stage(ctx, section, config, flags)
            extra = {"config_path": config or (ctx.find_root().obj or {}).get("config")} if wants_path else {}
            with _recorded(step, stage_cfg, layout):
                result = fn(stage_cfg, layout, **extra)
            if not distributed.is_main():  # rank 0 alone tracks and reports (the other ranks wrote nothing)
                return
            if step is not None and STAGE[step].tracking == "stage":
                from saferlhf.tracking import track_stage

                track_stage(root_cfg.registry, layout, step, stage_cfg, result)
            _echo(result)

        if step is not None and STAGE[step].distributed:
            params.append(inspect.Parameter("nproc", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[int],
                                            default=typer.Option(None, "--nproc", min=1, help=NPROC_HELP)))
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = fn.__doc__
        group.command(name)(command)
        return fn

    return decorator


def _recorded(step: str | None, cfg: StageConfig, layout: Layout):
    """The stage's record goes into its report after it ran (`saferlhf.provenance`), also when it ends with a
    verdict exit code (the monitor exits 1 on drift, its report written)."""
    if step is None or step not in STAGE:
        return contextlib.nullcontext()
    from saferlhf import provenance

    return provenance.recorded(STAGE[step], cfg, layout, keep=(typer.Exit,))


def _blocks(cls) -> list[str]:
    """Fields of a stage config that are themselves config blocks (e.g. `sampling`)."""
    return [f for f, i in cls.model_fields.items() if isinstance(i.annotation, type)
            and issubclass(i.annotation, StageConfig)]


def _sub_fields(cls):
    """(block, field, info) for every field of every block: the CLI flattens blocks into plain flags."""
    return [(b, f, i) for b in _blocks(cls) for f, i in cls.model_fields[b].annotation.model_fields.items()]


def register_stages(groups: dict[str, typer.Typer], custom: dict[str, Any]) -> None:
    """One command per stage of the table, at its CLI words (`policy train-rl`): the stage's run function, or
    `custom[name]` where a stage's command does more (an exit code)."""
    for stage in STAGES:
        group = app if len(stage.command) == 1 else groups[stage.command[0]]
        fn = custom.get(stage.name) or _runner(stage)
        stage_command(group, stage.command[-1], stage.section, stage.name)(fn)


def _runner(stage: Stage):
    def run(cfg, layout):
        return stage.run_fn()(cfg, layout)  # the stage's module loads only when its command runs

    run.__doc__ = stage.help
    return run


def adapter(module: str):
    """Import an adapter package installed with saferlhf (`serving.launch`, `pipelines.runner`): kfp, FastAPI and
    Streamlit load only for the commands that need them. Never looked up in the working directory (running a
    command in an untrusted folder must not execute that folder's code)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            raise UserError(f"{module} is not installed with this saferlhf (reinstall the package: pip install "
                            f"saferlhf, or `make venv` in a checkout)") from None
        raise


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
    except (typer.TyperException, click.ClickException) as e:  # usage errors (Typer vendors its own click)
        if not hasattr(e, "show"):
            raise
        e.show()
        sys.exit(getattr(e, "exit_code", 2))
