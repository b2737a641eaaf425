"""Shared fixtures. Expensive artifacts (dataset, tiny reward model) are built once per session into a temp
folder laid out like `outputs/`, so every test layer uses real files made by the real code."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from saferlhf.artifacts import Layout  # noqa: E402
from saferlhf.config import DataConfig, RewardConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Small but enough steps (40) for the heads to learn: a higher lr than the real configs, same code path.
TINY_REWARD = RewardConfig(num_epochs=2, max_train_samples=320, max_length=64, batch_size=16, warmup_steps=2,
                           learning_rate=1e-4, head_learning_rate=2e-3, mc_dropout_passes=2, eval_batch_size=64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_layout(tmp_path_factory) -> Layout:
    """outputs/-style folder with the generated dataset (full seed scale: it is fast)."""
    from saferlhf.data import run_generate

    layout = Layout(tmp_path_factory.mktemp("outputs"))
    run_generate(DataConfig(), layout)
    return layout


@pytest.fixture(scope="session")
def tiny_reward_model(tiny_layout) -> Path:
    """A reward model trained briefly on a small slice (real MiniLM backbone); returns its folder."""
    from saferlhf.reward import run_train

    run_train(TINY_REWARD, tiny_layout)
    return tiny_layout.reward_model
