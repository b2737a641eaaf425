"""Matplotlib PNG plots (Agg backend, written atomically). Imported lazily by the stages that draw."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from saferlhf.io import atomic_write  # noqa: E402


def save(fig, path: str | Path) -> Path:
    out = atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return out


def reliability_diagram(curve: dict, ece: float, title: str, path: str | Path) -> Path:
    """Mean prediction vs mean label per bin, with the diagonal and bin counts."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    pts = [(p, t) for p, t in zip(curve["mean_pred"], curve["mean_true"]) if p is not None]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, "o-", color="tab:blue", label="model")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted score", ylabel="mean label",
           title=f"{title} (ECE {ece:.3f})")
    ax.legend(loc="upper left")
    return save(fig, path)


def line_plot(series: dict[str, list], title: str, xlabel: str, path: str | Path, ncols: int = 1) -> Path:
    """One subplot per named series (x = index)."""
    n = len(series)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 2.6 * nrows), squeeze=False)
    for ax, (name, ys) in zip(axes.flat, series.items()):
        ax.plot(range(1, len(ys) + 1), ys)
        ax.set(title=name, xlabel=xlabel)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)
