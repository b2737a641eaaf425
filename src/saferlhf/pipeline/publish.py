"""After a local run: copy the run's artifacts into the seed's `outputs/` layout and pick the headline numbers
for the one-screen summary."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

from saferlhf.artifacts import Layout
from saferlhf.errors import UserError
from saferlhf.io import hardlink_or_copy
from saferlhf.pipeline.steps import NOT_RUN_FILE
from saferlhf.stages import STAGE, published

# pipeline output name -> Layout attribute it is published to (order matters: onnx lives inside reward_model)
PUBLISH = published()


def _copy(src: Path, dst: Path) -> None:
    """Copy (hard links where the file system allows: artifacts are never modified in place) then swap in."""
    tmp = dst.with_name(f".{dst.name}.publishing")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, tmp, copy_function=hardlink_or_copy, ignore=shutil.ignore_patterns("onnx"))
    else:
        hardlink_or_copy(src, tmp)
    if dst.is_dir():
        keep = dst / "onnx"  # published separately; survives a reward-model republish until replaced
        if keep.is_dir() and src.is_dir() and not (tmp / "onnx").exists():
            keep.rename(tmp / "onnx")
        shutil.rmtree(dst)
    elif dst.exists():
        dst.unlink()
    tmp.rename(dst)


def publish(artifacts: dict[str, str], layout: Layout) -> dict[str, str]:
    """Copy a run's artifacts (pipeline output name -> path) into the seed's layout; returns name -> published path.
    An assessment the run did not plan (its output a NOT_RUN_FILE note) is left out, so a report the CLI wrote
    there stays."""
    done = {}
    for name, attr in PUBLISH.items():
        src = artifacts.get(name)
        if not src or not Path(src).exists() or (Path(src) / NOT_RUN_FILE).is_file():
            continue
        dst = getattr(layout, attr)
        _copy(Path(src), dst)
        done[name] = str(dst)
    return done


def _result(step: str, layout: Layout):
    """A stage's typed result from its published report, or None when it is missing or unreadable."""
    try:
        return STAGE[step].load_result(layout)
    except UserError:
        return None


def summary_rows(layout: Layout) -> list[tuple[str, str]]:
    """(metric, value) pairs worth one screen, read from the published reports (missing ones are left out)."""
    reward, ev, probes = (_result(s, layout) for s in ("train-reward", "evaluate", "probe"))
    picks = []
    if reward:
        picks += [("reward model pairwise accuracy", reward.pairwise_accuracy),
                  ("reward model relevance accuracy", reward.relevance_accuracy),
                  ("reward model ECE (worst signal)", reward.ece_max)]
    if ev:
        picks += [("unsafe outputs % base -> RL", _pair(ev.unsafe_output_pct.base, ev.unsafe_output_pct.rl)),
                  ("unsafe reduction %", ev.unsafe_output_pct.reduction_pct),
                  ("over-refusal % base -> RL", _pair(ev.over_refusal.base_pct, ev.over_refusal.rl_pct)),
                  ("toxicity reduction %", ev.toxicity_reduction_pct),
                  ("hallucination reduction %", ev.hallucination_reduction_pct)]
    if probes:
        picks.append(("probe overall risk base -> RL", _pair(probes.summary.base_model_overall_risk,
                                                             probes.summary.rl_model_overall_risk)))
    return [(k, v if isinstance(v, str) else f"{v:.4g}") for k, v in picks
            if isinstance(v, str) or (isinstance(v, (int, float)) and math.isfinite(v))]


def _pair(a: Any, b: Any) -> str | None:
    if not all(isinstance(v, (int, float)) for v in (a, b)):
        return None
    return f"{a:.4g} -> {b:.4g}"


def render_summary(layout: Layout, published: dict[str, str], executed: list[str], seconds: float,
                   decision: str | None) -> None:
    """One screen: headline metrics, the promotion verdict, where everything is, what ran vs came from cache."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    metrics = Table(title="SafeRLHF pipeline: headline metrics", title_justify="left")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for k, v in summary_rows(layout):
        metrics.add_row(k, v)
    console.print(metrics)
    if decision:
        console.print(decision.strip().splitlines()[0].lstrip("# "))
    where = Table(title="Outputs (the seed's layout)", title_justify="left")
    where.add_column("artifact")
    where.add_column("path", overflow="fold")
    for name, path in published.items():
        where.add_row(name, _short(path))
    where.add_row("MLflow runs and registry", _short(layout.mlflow_db))
    where.add_row("kfp.local runs and step cache", _short(layout.pipeline_root))
    console.print(where)
    ran = ", ".join(executed) if executed else "none (every step came from the cache)"
    console.print(f"finished in {seconds:.0f} s; steps run: {ran}")


def _short(path: str | Path) -> str:
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel
