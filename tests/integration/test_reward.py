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
    assert {"spearman_uncertainty_error", "uncertainty_grows_with_error"} <= set(m["mc_dropout"])
    for sig in m["mae"]:
        assert (tiny_reward_model / "plots" / f"calibration_{sig}.png").stat().st_size > 1000
    assert (tiny_reward_model / "plots" / "loss_curve.png").is_file()
    assert (tiny_reward_model / "reference_scores.parquet").is_file()
    hist = json.loads((tiny_reward_model / "training_history.json").read_text())
    assert len(hist["step_loss"]) > 0
