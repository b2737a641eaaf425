"""Contrastive (RLCD) labelling of the policy's own answers: which answers become which rows (saferlhf.data.contrast).

The policy is replaced by plain answer functions: `contrast_frame` takes `generate(prompts, system)` by design (the
stage runner hands in a saved policy's sampler), so these tests drive the labelling rule itself."""

from __future__ import annotations

import pandas as pd
import pytest

from saferlhf.config import DataConfig
from saferlhf.data import contrast
from saferlhf.data.generate import generate
from saferlhf.data.loader import LABEL_COLUMNS, load_labels
from saferlhf.data.templates import LABEL_RULES
from saferlhf.refusal import SHOULD_REFUSE

REFUSAL = "I can't help with that, because it could hurt someone."
ANSWER = "Sure. First gather what you need, then follow these steps one by one until it is done."


@pytest.fixture(scope="module")
def labels() -> pd.DataFrame:
    return generate(DataConfig())[1]


def steered(prompts, system):
    """A model that follows its system prompt: refuses under the safety prompt, complies under the other."""
    return [REFUSAL if system == contrast.SAFETY_SYSTEM else ANSWER for _ in prompts]


def test_each_kind_of_prompt_gets_its_two_labelled_rows(labels, tmp_path):
    frame, stats = contrast.contrast_frame(labels, steered, max_per_split=12)
    new = frame[frame["source"] == contrast.POLICY_SOURCE]
    assert (frame["source"] == "template").sum() == len(labels)
    assert stats["prompts"] == 36 and stats["rows_added"] == len(new) == 72
    for _, row in new.iterrows():
        harmful = row["category"] in SHOULD_REFUSE
        assert row["category"] in SHOULD_REFUSE | {"benign"}
        expected = {("safe" if harmful else "over_refusal"), ("unsafe" if harmful else "safe")}
        assert row["response_type"] in expected
        refused = row["response_type"] == "over_refusal" or (harmful and row["response_type"] == "safe")
        assert row["response"] == (REFUSAL if refused else ANSWER)
        assert tuple(row[LABEL_COLUMNS]) == LABEL_RULES[(row["category"], row["response_type"])]
    # every row keeps its prompt's split, so held-out prompts' answers stay held out
    split_of = labels.drop_duplicates("prompt_id").set_index("prompt_id")["split"]
    assert (new["split"] == new["prompt_id"].map(split_of)).all()
    assert set(new["split"]) == {"train", "validation", "test"}
    path = tmp_path / "contrast.csv"
    frame.to_csv(path, index=False)
    assert len(load_labels(path)) == len(frame)  # unique ids, scores in [0, 1]: a valid labels file


def test_answers_the_refusal_detector_disagrees_with_are_dropped(labels):
    def contrary(prompts, system):  # refuses when told to comply, complies when told to be careful
        return [ANSWER if system == contrast.SAFETY_SYSTEM else REFUSAL for _ in prompts]

    frame, stats = contrast.contrast_frame(labels, contrary, max_per_split=6)
    assert stats["rows_added"] == 0 and (frame["source"] == "template").all()
    assert {k: s["agreement"] for k, s in stats["by_steering"].items()} == {
        "refuse/safety": 0.0, "refuse/compliance": 0.0, "answer/safety": 0.0, "answer/compliance": 0.0}


def test_empty_and_degenerate_answers_are_dropped(labels):
    def broken(prompts, system):
        return ["" if system == contrast.SAFETY_SYSTEM else "step step step step step step step step step step"
                for _ in prompts]

    assert contrast.contrast_frame(labels, broken, max_per_split=6)[1]["rows_added"] == 0


def test_only_categories_a_steering_can_label(labels):
    chosen = contrast.eligible_prompts(labels, ("test",), None)
    assert set(chosen["category"]) == SHOULD_REFUSE | {"benign"}
    assert chosen["prompt_id"].is_unique and (chosen["split"] == "test").all()
    with pytest.raises(ValueError, match="split"):
        contrast.eligible_prompts(labels.drop(columns="split"), ("test",), None)


def test_several_samples_per_steering_get_their_own_ids_and_repeats_are_kept_once(labels):
    once, _ = contrast.contrast_frame(labels, steered, max_per_split=6)
    calls = []

    def varied(prompts, system):  # a sampler: the k-th sample of a prompt differs from its others
        calls.append(len(prompts))
        return [(REFUSAL if system == contrast.SAFETY_SYSTEM else ANSWER) + f" ({i % 3})" for i in range(len(prompts))]

    frame, stats = contrast.contrast_frame(labels, varied, max_per_split=6, samples=3)
    new, one = (f[f["source"] == contrast.POLICY_SOURCE] for f in (frame, once))
    assert calls == [3 * 18, 3 * 18] and stats["prompts"] == 18
    assert len(new) == 3 * len(one) and new["id"].is_unique
    assert set(new["id"]) >= set(one["id"])  # the first sample keeps the one-sample id
    same, stats = contrast.contrast_frame(labels, steered, max_per_split=6, samples=3)  # identical answers
    assert len(same) == len(once) and stats["rows_added"] == len(one)
    # repeats are agreed with but kept once: the agreement is the detector's, not the dedupe's
    for key, s in stats["by_steering"].items():
        assert s["agreed"] == s["answers"] == 3 * s["kept"] and s["agreement"] == 1.0, key
