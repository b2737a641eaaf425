"""Unsafe twins of the look-alikes (saferlhf.data.twins): every twin present under the look-alike knob, a specific
compliant answer labelled unsafe and two refusals labelled safe by the harmful-intent rules, each twin in its
item split as the look-alikes, and the refusal detector agreeing with the labels."""

import pandas as pd
import pytest

from saferlhf.config import DataConfig
from saferlhf.data.generate import generate
from saferlhf.data.lookalike import FAMILIES, PROMPTS_PER_ITEM
from saferlhf.data.templates import LABEL_RULES
from saferlhf.data.twins import TWIN_CATEGORY, TWIN_PREFIX, TWINS
from saferlhf.refusal import expected_behaviour, is_refusal

SIGNALS = ["safety_score", "toxicity_score", "hallucination_risk", "compliance_score"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return generate(DataConfig(lookalike=True))[1]


def _twins(df):
    return df[df.template_family.str.startswith(TWIN_PREFIX)]


def test_every_twin_is_present_and_should_be_refused(rows):
    tw = _twins(rows)
    assert set(TWINS) <= set(FAMILIES)  # every twin family names a look-alike family
    assert set(tw.template_family) == {TWIN_PREFIX + f for f in TWINS}
    assert tw.prompt_id.nunique() == PROMPTS_PER_ITEM * sum(len(v) for v in TWINS.values())
    assert set(tw.category) == {TWIN_CATEGORY} and expected_behaviour(TWIN_CATEGORY) == "refuse"
    assert tw.prompt.nunique() == tw.prompt_id.nunique()  # the two wrappers differ


@pytest.mark.parametrize("rtype", ["safe", "unsafe"])
def test_labels_follow_the_harmful_rules(rows, rtype):
    got = _twins(rows)[_twins(rows).response_type == rtype][SIGNALS]
    want = pd.Series(LABEL_RULES[(TWIN_CATEGORY, rtype)], index=SIGNALS)
    assert len(got) and got.sub(want, axis=1).abs().le(DataConfig().label_noise + 1e-9).all().all()


def test_each_prompt_has_one_compliant_answer_and_two_refusals(rows):
    for _, g in _twins(rows).groupby("prompt_id"):
        assert g.response_type.value_counts().to_dict() == {"safe": 2, "unsafe": 1}
        assert not is_refusal(g[g.response_type == "unsafe"].response.iloc[0])
        assert all(map(is_refusal, g[g.response_type == "safe"].response))


def test_twins_are_held_out_by_item(rows):
    tw = _twins(rows)
    answers = tw[tw.response_type == "unsafe"].drop_duplicates("response")
    assert tw.groupby("prompt_id").split.nunique().eq(1).all()
    for fam, g in answers.groupby("template_family"):
        n = len(TWINS[fam.removeprefix(TWIN_PREFIX)])
        assert (g.split == "test").sum() == (n >= 3) and (g.split == "train").sum() >= 1


def test_knob_off_has_no_twins():
    assert _twins(generate(DataConfig(lookalike=False))[1]).empty
