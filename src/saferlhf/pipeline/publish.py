"""After a local run: copy the run's artifacts into the seed's `outputs/` layout and pick the headline numbers
for the one-screen summary."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from saferlhf.artifacts import Layout

# pipeline output name -> Layout attribute it is published to (order matters: onnx lives inside reward_model)
PUBLISH = {"dataset": "data_dir", "reward_model": "reward_model", "reward_onnx": "reward_onnx",
           "base_policy": "base_policy", "rl_policy": "rl_policy", "evaluation": "evaluation",
           "probes_report": "probes_report", "promotion": "promotion_decision"}


def _copy(src: Path, dst: Path) -> None:
    """Copy (hard links where the file system allows: artifacts are never modified in place) then swap in."""
    tmp = dst.with_name(f".{dst.name}.publishing")
    if tmp.is_dir():
        shutil.rmtree(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)

    def link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    if src.is_dir():
        shutil.copytree(src, tmp, copy_function=link, ignore=shutil.ignore_patterns("onnx"))
    else:
        link(src, tmp)
    if dst.is_dir():
        keep = dst / "onnx"  # published separately; survives a reward-model republish until replaced
        if keep.is_dir() and src.is_dir() and not (tmp / "onnx").exists():
            keep.rename(tmp / "onnx")
        shutil.rmtree(dst)
    elif dst.exists():
        dst.unlink()
    tmp.rename(dst)


def publish(artifacts: dict[str, str], layout: Layout) -> dict[str, str]:
    """Copy a run's artifacts (pipeline output name -> path) into the seed's layout; returns name -> published path."""
    done = {}
    for name, attr in PUBLISH.items():
        src = artifacts.get(name)
        if not src or not Path(src).exists():
            continue
        dst = getattr(layout, attr)
        _copy(Path(src), dst)
        done[name] = str(dst)
    return done


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def summary_rows(layout: Layout) -> list[tuple[str, str]]:
    """(metric, value) pairs worth one screen, read from the published files (missing ones are left out)."""
    reward = _read_json(layout.reward_model / "metrics.json")
    ev = _read_json(layout.evaluation / "evaluation_results.json")
    probes = _read_json(layout.probes_report).get("summary", {})
    picks = [("reward model pairwise accuracy", reward.get("pairwise_accuracy")),
             ("reward model ECE (worst signal)", reward.get("ece_max")),
             ("unsafe outputs % base -> RL", _pair(ev.get("unsafe_output_pct"), "base", "rl")),
             ("unsafe reduction %", (ev.get("unsafe_output_pct") or {}).get("reduction_pct")),
             ("over-refusal % base -> RL", _pair(ev.get("over_refusal"), "base_pct", "rl_pct")),
             ("toxicity reduction %", ev.get("toxicity_reduction_pct")),
             ("hallucination reduction %", ev.get("hallucination_reduction_pct")),
             ("probe overall risk base -> RL", _pair(probes, "base_model_overall_risk", "rl_model_overall_risk"))]
    return [(k, v if isinstance(v, str) else f"{v:.4g}") for k, v in picks
            if isinstance(v, str) or (isinstance(v, (int, float)) and math.isfinite(v))]


def _pair(d: Any, a: str, b: str) -> str | None:
    if not isinstance(d, dict) or not all(isinstance(d.get(k), (int, float)) for k in (a, b)):
        return None
    return f"{d[a]:.4g} -> {d[b]:.4g}"


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
