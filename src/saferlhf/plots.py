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


def histogram_overlay(series: dict[str, list], title: str, xlabel: str, path: str | Path, bins: int = 30) -> Path:
    """Overlaid, semi-transparent histograms on shared bins (one per named series)."""
    import numpy as np

    values = [np.asarray(v, float) for v in series.values()]
    allv = np.concatenate(values) if values else np.zeros(0)
    edges = np.linspace(allv.min(), allv.max() + 1e-9, bins + 1) if allv.size else bins
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, v in zip(series, values):
        ax.hist(v, bins=edges, alpha=0.5, label=f"{name} (mean {v.mean():.3f})" if v.size else name)
    ax.set(title=title, xlabel=xlabel, ylabel="count")
    ax.legend()
    return save(fig, path)


def bar_chart(groups: list[str], series: dict[str, list], title: str, ylabel: str, path: str | Path,
              errors: dict[str, list] | None = None) -> Path:
    """Grouped bars: one group per label in `groups`, one bar per named series; values printed on bars.
    `errors`: per series, (below, above) error-bar lengths per bar (None = no bar), e.g. a 95% CI."""
    import numpy as np

    x = np.arange(len(groups))
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(groups) * max(len(series), 1) / 1.5), 3.8))
    for i, (name, ys) in enumerate(series.items()):
        ys = [float("nan") if y is None else y for y in ys]
        err = (errors or {}).get(name)
        yerr = np.array([(0.0, 0.0) if e is None else e for e in err], float).T if err else None  # (2, n)
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, ys, width, label=name, yerr=yerr, capsize=3)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, groups, rotation=20, ha="right")
    ax.set(title=title, ylabel=ylabel)
    if len(series) > 1:
        ax.legend()
    fig.tight_layout()
    return save(fig, path)
