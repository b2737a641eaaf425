"""Off-topic pairs (saferlhf.data.mismatch): the generator's off-topic rows (labels, donors, split discipline) and the
reward evaluation's relevance accuracy, computed with constructed scorers whose answer is known."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from saferlhf.config import DataConfig
from saferlhf.data.generate import LABEL_COLUMNS, generate
from saferlhf.data.mismatch import donor_rows, off_topic_pairs
from saferlhf.data.templates import LABEL_RULES, OFF_TOPIC, OFF_TOPIC_LABELS
from saferlhf.refusal import is_refusal
from saferlhf.relevance import is_urgent_redirect
from saferlhf.reward.evaluate import relevance_accuracy
from saferlhf.signals import combined_reward


ON = 0.3  # the fraction measured in docs/reward.md


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return generate(DataConfig(mismatched_fraction=ON))[1]


def _own(df: pd.DataFrame) -> pd.DataFrame:
    return df[df.response_type != OFF_TOPIC]


def test_share_of_each_split_gets_one_off_topic_row(df):
    off = df[df.response_type == OFF_TOPIC]
    assert off.prompt_id.is_unique and off.id.is_unique and not set(off.id) & set(_own(df).id)
    prompts = _own(df).drop_duplicates("prompt_id").groupby("split").size()
    want = {s: round(ON * n) for s, n in prompts.items()}
    assert off.groupby("split").size().to_dict() == want and min(want.values()) > 0


def test_off_topic_row_is_another_categorys_answer_with_the_prompts_own_fields(df):
    own = _own(df)
    target = own.drop_duplicates("prompt_id").set_index("prompt_id")
    for r in df[df.response_type == OFF_TOPIC].itertuples():
        t = target.loc[r.prompt_id]
        assert (r.prompt, r.category, r.split, r.template_family) == (t.prompt, t.category, t.split,
                                                                       t.template_family)
        src = own[own.response == r.response]  # the text is copied from a real answer of the dataset
        assert ((src.category != r.category) & (src.split == r.split) & (src.response_type == "safe")).any()
        assert not is_refusal(r.response) and not is_urgent_redirect(r.response)


def test_donors_stay_in_their_split(df):
    pairs = off_topic_pairs(df, list(df.prompt_id.unique()), random.Random(0))
    split = df.drop_duplicates("prompt_id").set_index("prompt_id")["split"]
    category = df.drop_duplicates("prompt_id").set_index("prompt_id")["category"]
    assert len(pairs) == df.prompt_id.nunique()  # every seed prompt has an eligible donor
    assert (pairs.donor_prompt_id.map(split).to_numpy() == pairs.split.to_numpy()).all()
    assert (pairs.donor_prompt_id.map(category).to_numpy() != pairs.category.to_numpy()).all()
    # a generic answer that fits any prompt ("Could you tell me a bit more?") is never a donor
    assert not donor_rows(df).response.str.startswith("Happy to help with that in the usual").any()


def test_off_topic_labels_cost_compliance_and_reward(df):
    off = df[df.response_type == OFF_TOPIC]
    noise = DataConfig().label_noise
    assert (np.abs(off[LABEL_COLUMNS].to_numpy() - np.array(OFF_TOPIC_LABELS)) <= noise + 1e-9).all()
    # below every relevant safe answer and below an over-refusal: evading is never the best-rewarded behaviour
    r_off = combined_reward([OFF_TOPIC_LABELS])[0]
    safe = [combined_reward([m])[0] for (c, t), m in LABEL_RULES.items() if t in ("safe", "over_refusal")]
    assert r_off < min(safe)


def test_fraction_zero_leaves_the_rest_of_the_dataset_unchanged(df):
    _, none = generate(DataConfig(mismatched_fraction=0.0))
    assert OFF_TOPIC not in set(none.response_type)
    pd.testing.assert_frame_equal(none, _own(df).reset_index(drop=True))
    _, every = generate(DataConfig(mismatched_fraction=1.0))
    assert (every.response_type == OFF_TOPIC).sum() == every.prompt_id.nunique()


def _oracle(df: pd.DataFrame, sign: float = 1.0):
    """reward = +1 for a pair the dataset wrote (the prompt's own answer), -1 for any other pair (times `sign`)."""
    own = set(zip(_own(df).prompt, _own(df).response))
    return lambda prompts, responses: sign * np.array([1.0 if (p, r) in own else -1.0
                                                       for p, r in zip(prompts, responses)])


def test_relevance_accuracy_on_constructed_scorers(df):
    test = df[df.split == "test"]
    n_prompts = test[test.response_type == "safe"].prompt_id.nunique()
    acc, n = relevance_accuracy(test, _oracle(df), seed=1)
    assert (acc, n) == (1.0, n_prompts)
    assert relevance_accuracy(test, _oracle(df, -1.0), seed=1) == (0.0, n_prompts)
    # a scorer blind to the prompt ties the two answers: a tie is not a win
    assert relevance_accuracy(test, lambda p, r: np.zeros(len(p)), seed=1)[0] == 0.0
    # the pairs are built for every held-out prompt: the dataset's own off-topic rows do not change the figure
    assert relevance_accuracy(_own(test), _oracle(df), seed=1) == (1.0, n_prompts)
    assert np.isnan(relevance_accuracy(test[["prompt", "response"]], _oracle(df), seed=1)[0])


def test_relevance_accuracy_compares_the_drawn_pairs(df):
    """Half the prompts' off-topic answers outscore their own: the accuracy is the share of the rest."""
    test = df[df.split == "test"]
    pairs = off_topic_pairs(test, list(test[test.response_type == "safe"].prompt_id.unique()), random.Random(3))
    losers = set(pairs.prompt_id[::2])
    off_text = dict(zip(pairs.prompt_id, pairs.response))
    pid_of = dict(zip(test.prompt, test.prompt_id))

    def scorer(prompts, responses):
        return np.array([2.0 if off_text.get(pid_of[p]) == r and pid_of[p] in losers else
                         1.0 if off_text.get(pid_of[p]) != r else 0.0 for p, r in zip(prompts, responses)])

    acc, n = relevance_accuracy(test, scorer, seed=3)
    assert n == len(pairs) and acc == pytest.approx(1 - len(losers) / len(pairs))


def test_off_topic_rows_are_opt_in():
    """Off by default (and so in configs/demo.yaml) until measured on `make demo`; configs/smollm2.yaml opts in."""
    assert DataConfig().mismatched_fraction == 0.0
