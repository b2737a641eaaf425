"""Shared fixtures. Expensive artifacts (dataset, tiny reward model) are built once per session into a temp
folder laid out like `outputs/`, so every test layer uses real files made by the real code."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Stage commands log to MLflow by default; tests that check tracking turn it on themselves (keeps tests fast).
os.environ.setdefault("SAFERLHF_TRACKING", "0")

from saferlhf.artifacts import Layout  # noqa: E402
from saferlhf.config import DataConfig, RewardConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Small but enough steps (40) for the heads to learn: a higher lr than the real configs, same code path.
TINY_REWARD = RewardConfig(num_epochs=2, max_train_samples=320, max_length=64, batch_size=16, warmup_steps=2,
                           learning_rate=1e-4, head_learning_rate=2e-3, mc_dropout_passes=2, eval_batch_size=64)


@pytest.fixture(autouse=True)
def _isolate_mlflow_uris():
    """mlflow.set_tracking_uri/set_registry_uri/set_experiment write process-global state *and* the environment
    (the registry URI is never unset). Restore it after every test, so a test never talks to another test's store."""
    _forget_mlflow_experiment()  # a session fixture may have set one before this test started
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    yield
    for k in [k for k in os.environ if k.startswith("MLFLOW_") and k not in saved]:
        del os.environ[k]  # e.g. MLFLOW_EXPERIMENT_ID, MLFLOW_REGISTRY_URI written by mlflow itself
    os.environ.update(saved)
    if "mlflow" in sys.modules:
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        tracking_utils._tracking_uri = None
        registry_utils._registry_uri = None
        import mlflow

        while mlflow.active_run():  # a run left open belongs to the old store
            mlflow.end_run()
    _forget_mlflow_experiment()


def _forget_mlflow_experiment():
    # set_experiment() caches an experiment id (global and env) that means nothing in another test's store, and
    # set_registry_uri() leaves MLFLOW_REGISTRY_URI behind (a module fixture's server outlives its module in it).
    # Without them mlflow uses the tracking URI for the registry, which is what saferlhf.tracking sets anyway.
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    if "mlflow" in sys.modules:
        from mlflow.tracking._model_registry import utils as registry_utils

        sys.modules["mlflow"].tracking.fluent._active_experiment_id = None
        registry_utils._registry_uri = None


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


@pytest.fixture(scope="session")
def tiny_onnx_bundle(tiny_reward_model, tiny_layout) -> Path:
    """The tiny reward model exported to ONNX, fp32 and INT8, with its parity report (tiny_layout.reward_onnx)."""
    from saferlhf.config import ExportConfig
    from saferlhf.onnx_export import run_export

    if not (tiny_layout.reward_onnx / "model.int8.onnx").is_file():
        # a generous search budget: the suite may run on a loaded machine, where one trial takes many seconds
        run_export(ExportConfig(quantize="int8", max_parity_samples=96, max_calibration_samples=64,
                                int8_search_seconds=900), tiny_layout)
    return tiny_layout.reward_onnx


@pytest.fixture(scope="session")
def dashboard_outputs(tmp_path_factory) -> dict:
    """An outputs/ folder holding every file the dashboard reads (tests/fixtures/dashboard_outputs.py); returns
    what was written, under keys layout, evaluation, training, reward, probes, drift, registry."""
    from tests.fixtures.dashboard_outputs import build

    return build(tmp_path_factory.mktemp("dashboard_outputs"))


@pytest.fixture(scope="session")
def tiny_base_policy(tiny_layout) -> Path:
    """A tiny from-scratch GPT-2 base policy (1 layer, 1 epoch) saved at tiny_layout.base_policy; returns its folder."""
    from saferlhf.config import PolicyConfig
    from saferlhf.policy import run_init

    run_init(PolicyConfig(n_layer=1, n_head=2, n_embd=64, n_positions=128, vocab_size=600, num_epochs=1), tiny_layout)
    return tiny_layout.base_policy


@pytest.fixture(scope="session")
def tiny_rl_policy(tiny_layout, tiny_base_policy, tiny_reward_model) -> Path:
    """Two GRPO steps (Lagrangian objective, adaptive KL) from the tiny base policy, saved at
    tiny_layout.rl_policy with training_stats.json; returns its folder."""
    from saferlhf.config import RLConfig
    from saferlhf.rl import run_train_rl

    run_train_rl(RLConfig(max_steps=2, batch_size=2, num_generations=2, max_new_tokens=8, learning_rate=1e-2,
                          objective="lagrangian", kl_horizon=2), tiny_layout)
    return tiny_layout.rl_policy
