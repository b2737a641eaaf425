"""Content-free acknowledgements as reward-model training rows (data.acknowledgement_fraction)."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from saferlhf.config import DataConfig
from saferlhf.data.acknowledge import (ACK_ANSWER_LABELS, ACK_HARMFUL_LABELS, ACKNOWLEDGEMENT, acknowledgement,
                                       labels_for)
from saferlhf.data.generate import LABEL_COLUMNS, generate
from saferlhf.data.templates import LABEL_RULES
from saferlhf.policy.lm import imitable
from saferlhf.refusal import SHOULD_REFUSE, is_refusal
from saferlhf.relevance import is_answer
from saferlhf.signals import combined_reward

ON = 0.2


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return generate(DataConfig(acknowledgement_fraction=ON, mismatched_fraction=0.3))[1]


def test_share_of_each_split_gets_one_acknowledgement_with_the_prompts_own_fields(df):
    ack = df[df.response_type == ACKNOWLEDGEMENT]
    own = df[df.response_type != ACKNOWLEDGEMENT]
    assert ack.prompt_id.is_unique and df.id.is_unique
    prompts = own.drop_duplicates("prompt_id")
    assert ack.groupby("split").size().to_dict() == {s: round(ON * n) for s, n in prompts.groupby("split").size().items()}
    target = prompts.set_index("prompt_id")
    for r in ack.itertuples():
        t = target.loc[r.prompt_id]
        assert (r.prompt, r.category, r.split, r.template_family) == (t.prompt, t.category, t.split, t.template_family)
        # judged as an answer by the rules (neither a refusal nor a redirect): only the reward model can learn it
        assert is_answer(r.response) and not is_refusal(r.response)
    assert ack.response.nunique() > 20  # a grammar, not one string to memorise


def test_labels_by_what_the_prompt_should_get(df):
    ack = df[df.response_type == ACKNOWLEDGEMENT]
    noise = DataConfig().label_noise
    want = np.array([labels_for(c) for c in ack.category])
    assert (np.abs(ack[LABEL_COLUMNS].to_numpy() - want) <= noise + 1e-9).all()
    assert set(ack.category) & SHOULD_REFUSE and set(ack.category) - SHOULD_REFUSE
    # a promise to help with harm is unsafe; below the refusal the category should get
    assert ACK_HARMFUL_LABELS[0] < 0.5
    r_harm = combined_reward([ACK_HARMFUL_LABELS])[0]
    assert all(r_harm < combined_reward([LABEL_RULES[(c, "safe")]])[0] for c in SHOULD_REFUSE)
    # on a prompt to be answered: below every safe answer and below an over-refusal (saying nothing never wins)
    r_ans = combined_reward([ACK_ANSWER_LABELS])[0]
    assert r_ans < min(combined_reward([m])[0] for (c, t), m in LABEL_RULES.items() if t in ("safe", "over_refusal")
                       and c not in SHOULD_REFUSE)


def test_fraction_zero_is_byte_identical_and_acknowledgements_come_last(df):
    _, off = generate(DataConfig(mismatched_fraction=0.3))
    assert ACKNOWLEDGEMENT not in set(off.response_type)
    pd.testing.assert_frame_equal(off, df.iloc[:len(off)].reset_index(drop=True))
    assert (df.iloc[len(off):].response_type == ACKNOWLEDGEMENT).all()
    assert DataConfig().acknowledgement_fraction == 0.0


def test_policy_never_imitates_reward_model_only_rows(df):
    kept = imitable(df)
    assert ACKNOWLEDGEMENT not in set(kept.response_type) and "off_topic" not in set(kept.response_type)
    assert len(kept) == (~df.response_type.isin([ACKNOWLEDGEMENT, "off_topic"])).sum()
    assert imitable(df.drop(columns="response_type")).shape[0] == len(df)  # a user CSV without the column


def test_acknowledgement_is_deterministic_per_rng():
    assert acknowledgement(random.Random(3)) == acknowledgement(random.Random(3))


def test_acknowledgement_accuracy_on_constructed_scorers(df):
    from saferlhf.reward.evaluate import acknowledgement_accuracy

    test = df[(df.split == "test") & (df.response_type != ACKNOWLEDGEMENT)]
    written = set(zip(test.prompt, test.response))

    def oracle(sign):  # +1 for a pair the dataset wrote, -1 for any other (times sign)
        return lambda ps, rs: sign * np.array([1.0 if (p, r) in written else -1.0 for p, r in zip(ps, rs)])

    acc, n = acknowledgement_accuracy(test, oracle(1.0), seed=0)
    assert (acc, n) == (1.0, test[test.response_type == "safe"].prompt_id.nunique()) and n > 0
    assert acknowledgement_accuracy(test, oracle(-1.0), seed=0) == (0.0, n)
    assert acknowledgement_accuracy(test.drop(columns="response_type"), oracle(1.0), seed=0)[1] == 0
