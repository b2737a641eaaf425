"""`saferlhf data contrast` on a tiny random chat model of a real architecture (LlamaForCausalLM, built here),
and the reward model's figures on the policy's own rows reported apart from the template rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from saferlhf.artifacts import Layout
from saferlhf.data.contrast import POLICY_SOURCE
from saferlhf.errors import UserError
from saferlhf.io import read_json
from tests.tiny_chat_models import save_tiny_chat_model


@pytest.mark.slow
def test_contrast_rows_and_the_reward_models_separate_figures(tiny_layout, tiny_reward_model, tmp_path):
    from saferlhf.config import ContrastConfig, PolicyConfig, RewardConfig
    from saferlhf.data.loader import load_labels
    from saferlhf.policy import run_init
    from saferlhf.policy.generate import run_contrast
    from saferlhf.results import ContrastResult
    from saferlhf.reward import run_evaluate

    layout = Layout(tmp_path / "outputs")
    shutil.copytree(tiny_layout.data_dir, layout.data_dir)
    src = save_tiny_chat_model(tmp_path / "tiny-llama", [p["prompt"] for p in read_json(layout.prompts)], "llama")
    run_init(PolicyConfig(model_name=str(src)), layout)

    result = run_contrast(ContrastConfig(enabled=True, max_prompts_per_split=6, max_new_tokens=8), layout)
    frame = load_labels(layout.contrast_labels)  # a valid labels file: unique ids, labels in [0, 1]
    assert layout.training_labels(None) == layout.contrast_labels  # what the reward stage now trains on
    assert ContrastResult.load(layout.contrast / "contrast_summary.json").rows_added == result.rows_added
    new = frame[frame["source"] == POLICY_SOURCE]
    assert result.prompts == 18 and result.rows_added == len(new)
    assert sum(s["answers"] for s in result.by_steering.values()) == 2 * 18
    assert sum(s["kept"] for s in result.by_steering.values()) == len(new)
    # random weights write no refusals: the compliance-steered answers are the ones the detector agrees with
    assert result.by_steering["refuse/compliance"]["kept"] > 0
    assert set(new["response_type"]) <= {"safe", "unsafe", "over_refusal"}

    # template figures are those of the labels alone; the policy's rows get their own
    model_dir = tmp_path / "reward_copy"
    shutil.copytree(tiny_reward_model, model_dir)
    alone = run_evaluate(RewardConfig(output_dir=str(model_dir), mc_dropout_passes=2), tiny_layout)
    # the tiny model writes compliant answers only: add a held-out refusal per answered should-refuse prompt so
    # that the policy rows hold pairs (labelled as the contrast stage labels them)
    pairs = new[(new["split"] == "test") & (new["response_type"] == "unsafe")]
    refusals = pairs.assign(id=pairs["id"] + "-r", response="I can't help with that.", response_type="safe",
                            safety_score=0.92, toxicity_score=0.04, hallucination_risk=0.08, compliance_score=0.92)
    path = tmp_path / "with_refusals.csv"
    pd.concat([frame, refusals], ignore_index=True).to_csv(path, index=False)
    both = run_evaluate(RewardConfig(output_dir=str(model_dir), data_path=str(path), mc_dropout_passes=2), layout)
    assert both.pairwise_accuracy == alone.pairwise_accuracy and both.pairwise_pairs == alone.pairwise_pairs
    assert both.relevance_pairs == alone.relevance_pairs
    assert both.policy_rows == int((new["split"] == "test").sum()) + len(refusals)
    assert both.policy_pairwise_pairs == len(pairs) > 0
    assert 0.0 <= both.policy_pairwise_accuracy <= 1.0
    assert alone.policy_rows is None


def test_contrast_needs_a_chat_template_policy(tiny_layout, tiny_base_policy):
    from saferlhf.config import ContrastConfig
    from saferlhf.policy.generate import run_contrast

    with pytest.raises(UserError, match="chat-template policy"):
        run_contrast(ContrastConfig(enabled=True, output_path=str(tiny_layout.root / "never.csv")), tiny_layout)
    assert not (tiny_layout.root / "never.csv").exists()


def test_contrast_off_writes_its_report_only_and_drops_an_earlier_runs_answers(tmp_path):
    """Off (the default, and the from-scratch demo): no model is loaded (there is none here), the report says so,
    and answers an earlier run left are removed so that the reward stage trains on the generator's labels."""
    from saferlhf.config import ContrastConfig
    from saferlhf.policy.generate import run_contrast
    from saferlhf.results import ContrastResult

    layout = Layout(tmp_path / "outputs")
    layout.contrast.mkdir(parents=True)
    layout.contrast_labels.write_text("id,prompt\n")  # an earlier run's file
    assert layout.training_labels(None) == layout.contrast_labels
    result = run_contrast(ContrastConfig(), layout)
    assert not result.enabled and result.rows_added == 0 and not layout.contrast_labels.exists()
    assert ContrastResult.load(layout.contrast / "contrast_summary.json").enabled is False
    assert layout.training_labels(None) == layout.labels
    assert layout.training_labels("mine.csv") == Path("mine.csv")
