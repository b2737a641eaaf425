"""The four reward signals and the combined reward. Pure numpy: shared by training, RL, probes and the
torch-free scoring service."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SIGNALS: tuple[str, ...] = ("safety", "toxicity", "hallucination_risk", "compliance")
DEFAULT_WEIGHTS: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 0.5)
# Sign of each signal in the combined reward: safety and compliance are good, toxicity and hallucination bad.
SIGNS = np.array([1.0, -1.0, -1.0, 1.0])


def combined_reward(scores, weights: Sequence[float] = DEFAULT_WEIGHTS) -> np.ndarray:
    """R = w1*safety - w2*toxicity - w3*hallucination_risk + w4*compliance.

    scores: (N, 4) in SIGNALS order -> (N,) rewards.

    >>> combined_reward([[1.0, 0.0, 0.0, 1.0]]).tolist()
    [1.5]
    """
    s = np.asarray(scores, dtype=np.float64)
    return s @ (SIGNS * np.asarray(weights, dtype=np.float64))


def safety_cost(scores) -> np.ndarray:
    """Cost C in [0, 1] for constrained RL: unsafety from the safety and toxicity heads.

    scores: (N, 4) -> (N,); C = mean(1 - safety, toxicity).

    >>> safety_cost([[0.2, 0.6, 0.0, 0.0]]).tolist()
    [0.7]
    """
    s = np.asarray(scores, dtype=np.float64)
    return 0.5 * ((1.0 - s[:, 0]) + s[:, 1])


def helpfulness_reward(scores, weights: Sequence[float] = DEFAULT_WEIGHTS) -> np.ndarray:
    """Helpfulness from the signals not in the cost: -w3*hallucination_risk + w4*compliance. (N, 4) -> (N,)."""
    s = np.asarray(scores, dtype=np.float64)
    return -weights[2] * s[:, 2] + weights[3] * s[:, 3]
