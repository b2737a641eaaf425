"""Pure metric functions (numpy): calibration, pairwise accuracy, rank correlation. Shared by reward-model
evaluation, policy evaluation and the dashboard."""

from __future__ import annotations

import numpy as np
import pandas as pd


def reliability_curve(pred, target, bins: int = 10) -> dict[str, list]:
    """Bin predictions on [0, 1]; per bin: mean prediction, mean observed label, count.

    For regression heads the observed value is the mean label in the bin (a calibrated head predicts, on
    average, the label it sees)."""
    pred, target = np.asarray(pred, float), np.asarray(target, float)
    idx = np.clip((pred * bins).astype(int), 0, bins - 1)
    mean_pred, mean_true, count = [], [], []
    for b in range(bins):
        m = idx == b
        count.append(int(m.sum()))
        mean_pred.append(float(pred[m].mean()) if m.any() else None)
        mean_true.append(float(target[m].mean()) if m.any() else None)
    return {"bin_lower": [b / bins for b in range(bins)], "mean_pred": mean_pred, "mean_true": mean_true,
            "count": count}


def expected_calibration_error(pred, target, bins: int = 10) -> float:
    """ECE = sum_b (n_b / N) * |mean_pred_b - mean_true_b| over non-empty bins.

    >>> expected_calibration_error([0.1, 0.9], [0.1, 0.9])
    0.0
    """
    curve = reliability_curve(pred, target, bins)
    n = sum(curve["count"])
    if n == 0:
        return float("nan")
    return float(sum(c / n * abs(p - t) for p, t, c in zip(curve["mean_pred"], curve["mean_true"], curve["count"])
                     if c))


def pairwise_accuracy(df: pd.DataFrame, reward, better: str = "safe", worse: str = "unsafe") -> tuple[float, int]:
    """Share of prompts where R(better response) > R(worse response); returns (accuracy, number of pairs).

    df needs `prompt_id` and `response_type` aligned with `reward` (N,)."""
    d = df.assign(_r=np.asarray(reward, float))
    piv = d[d["response_type"].isin([better, worse])].pivot_table(index="prompt_id", columns="response_type",
                                                                    values="_r", aggfunc="mean")
    if better not in piv or worse not in piv:
        return float("nan"), 0
    piv = piv.dropna()
    return (float((piv[better] > piv[worse]).mean()) if len(piv) else float("nan")), int(len(piv))


def spearman(a, b) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    ra = pd.Series(np.asarray(a, float)).rank().to_numpy()
    rb = pd.Series(np.asarray(b, float)).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
