"""Reward model on a tiny slice: it learns (beats a constant predictor), saves and reloads to identical scores,
and its evaluation writes the documented files."""

import json

import numpy as np
import pytest

from saferlhf.data.loader import LABEL_COLUMNS, load_labels
from saferlhf.reward.model import RewardModel, RewardScorer
from saferlhf.reward.train import split_frame

pytestmark = pytest.mark.slow


def test_learns_beyond_constant_prediction(tiny_layout, tiny_reward_model):
    df = load_labels(tiny_layout.labels)
    train, test = split_frame(df, "train"), split_frame(df, "test")
    const_mae = np.abs(test[LABEL_COLUMNS].to_numpy() - train[LABEL_COLUMNS].mean().to_numpy()).mean()
    pred = RewardScorer(tiny_reward_model).scores(test["prompt"].tolist(), test["response"].tolist())
    model_mae = np.abs(pred - test[LABEL_COLUMNS].to_numpy()).mean()
    assert model_mae < 0.8 * const_mae, (model_mae, const_mae)


def test_save_load_round_trip_identical(tiny_layout, tiny_reward_model, tmp_path):
    df = load_labels(tiny_layout.labels).head(20)
    a = RewardScorer(tiny_reward_model).scores(df["prompt"].tolist(), df["response"].tolist())
    model = RewardModel.load(tiny_reward_model)
    model.save(tmp_path / "copy", RewardScorer(tiny_reward_model).tokenizer)
    b = RewardScorer(tmp_path / "copy").scores(df["prompt"].tolist(), df["response"].tolist())
    assert a.shape == (20, 4)
    np.testing.assert_array_equal(a, b)
    assert not list((tmp_path / "copy").glob("*.bin")) and not list((tmp_path / "copy").glob("*.pt"))


def test_evaluation_outputs(tiny_reward_model):
    m = json.loads((tiny_reward_model / "metrics.json").read_text())
    assert set(m["mae"]) == set(m["ece"]) == {"safety", "toxicity", "hallucination_risk", "compliance"}
    assert 0 <= m["pairwise_accuracy"] <= 1 and m["pairwise_pairs"] > 10
    assert 0 <= m["relevance_accuracy"] <= 1 and m["relevance_pairs"] > 10
    assert 0 <= m["acknowledgement_accuracy"] <= 1 and m["acknowledgement_pairs"] > 10
    assert {"spearman_uncertainty_error", "uncertainty_grows_with_error"} <= set(m["mc_dropout"])
    for sig in m["mae"]:
        assert (tiny_reward_model / "plots" / f"calibration_{sig}.png").stat().st_size > 1000
    assert (tiny_reward_model / "plots" / "loss_curve.png").is_file()
    assert (tiny_reward_model / "reference_scores.parquet").is_file()
    hist = json.loads((tiny_reward_model / "training_history.json").read_text())
    assert len(hist["step_loss"]) > 0


def test_evaluation_scores_with_the_models_own_weights(tiny_layout, tiny_reward_model, tmp_path):
    """`reward evaluate` under a YAML with other weights still scores (pairwise accuracy, the drift reference's
    `reward` column) with the weights saved in the model, which the scorer serves."""
    import shutil

    import pandas as pd

    from saferlhf.artifacts import Layout
    from saferlhf.reward import run_evaluate
    from saferlhf.signals import SIGNALS, combined_reward
    from tests.conftest import TINY_REWARD

    copy = Layout(tmp_path)
    shutil.copytree(tiny_reward_model, copy.reward_model)
    stored = RewardModel.load(copy.reward_model).cfg.weights
    other = (0.0, 3.0, 0.0, 2.0)
    assert tuple(stored) != other
    cfg = TINY_REWARD.model_copy(update={"weights": other, "data_path": str(tiny_layout.labels)})
    result = run_evaluate(cfg, copy)
    ref = pd.read_parquet(copy.reward_model / "reference_scores.parquet")
    np.testing.assert_allclose(ref["reward"], combined_reward(ref[list(SIGNALS)].to_numpy(), stored), atol=1e-5)
    original = json.loads((tiny_reward_model / "metrics.json").read_text())
    assert result.pairwise_accuracy == pytest.approx(original["pairwise_accuracy"])
