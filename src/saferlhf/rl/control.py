"""The two controllers of the RL stage, as small pure functions (no torch, no trainer state)."""

from __future__ import annotations

import math


def adaptive_kl_update(beta: float, kl: float, target: float, n_steps: int, horizon: int) -> float:
    """Adaptive KL coefficient (Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences", sec. 2.2).

    e = clip(KL / target - 1, -0.2, 0.2);  beta <- beta * (1 + e * n_steps / horizon).
    KL above target raises beta (pull harder toward the reference), below target lowers it.

    >>> round(adaptive_kl_update(0.1, kl=0.2, target=0.1, n_steps=1, horizon=10), 4)
    0.102
    """
    if target <= 0 or horizon <= 0:
        raise ValueError(f"target ({target}) and horizon ({horizon}) must be > 0")
    if not math.isfinite(kl):  # a step without a KL estimate leaves beta unchanged
        return beta
    e = min(max(kl / target - 1.0, -0.2), 0.2)
    return beta * (1.0 + e * n_steps / horizon)


def lagrange_update(log_lambda: float, mean_cost: float, threshold: float, lr: float, lambda_max: float) -> float:
    """Lagrange multiplier step of constrained RL (Safe RLHF, Dai et al. 2023), in log space so lambda stays > 0.

    log lambda <- log lambda + lr * lambda * (mean_cost - threshold), then lambda <= lambda_max.
    Cost above the threshold raises lambda (more weight on safety), below it lowers lambda.

    >>> round(math.exp(lagrange_update(0.0, mean_cost=0.5, threshold=0.2, lr=0.1, lambda_max=10.0)), 4)
    1.0305
    """
    lam = math.exp(log_lambda)
    return min(log_lambda + lr * lam * (mean_cost - threshold), math.log(lambda_max))
