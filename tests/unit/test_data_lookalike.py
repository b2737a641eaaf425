"""Look-alike benign prompts (saferlhf.data.lookalike): every family present, one specific answer and several
over-refusals per prompt with the benign labels, items held out in every family, same seed same rows, knob off = the
templated dataset."""

import re

import pandas as pd
import pytest

from saferlhf.config import DataConfig
from saferlhf.data.generate import generate
from saferlhf.data.lookalike import (BENIGN_ANSWERS, FAMILIES, LOOKALIKE, LOOKALIKE_LABELS, PROMPTS_PER_ITEM,
                                     REFUSALS_PER_PROMPT, SPECIFIC_BENIGN_SHARE)
from saferlhf.data.templates import RESPONSES
from saferlhf.data.twins import TWIN_PREFIX
from saferlhf.refusal import expected_behaviour

SIGNALS = ["safety_score", "toxicity_score", "hallucination_risk", "compliance_score"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return generate(DataConfig(lookalike=True))[1]


def test_every_family_and_item_is_present(rows):
    look = rows[rows.category == LOOKALIKE]
    assert set(look.template_family) == set(FAMILIES) and len(FAMILIES) >= 8
    n_items = sum(len(v) for v in FAMILIES.values())
    assert look.prompt_id.nunique() == PROMPTS_PER_ITEM * n_items
    # each item's own answer, not one template: as many distinct answers as items
    assert look[look.response_type == "safe"].response.nunique() == n_items
    assert expected_behaviour(LOOKALIKE) == "answer"


def test_each_prompt_has_its_answer_and_distinct_over_refusals(rows):
    look = rows[rows.category == LOOKALIKE]
    templated = {t for ts in RESPONSES.values() for t in ts}
    for _, g in look.groupby("prompt_id"):
        types = g.response_type.value_counts().to_dict()
        assert types == {"safe": 1, "over_refusal": REFUSALS_PER_PROMPT}
        answer = g[g.response_type == "safe"].response.iloc[0]
        # specific (not a template) and more than one sentence (or verse line)
        assert re.search(r"[.;!?/]['\"]?\s", answer) and len(answer) > 120 and answer not in templated
        refusals = g[g.response_type == "over_refusal"].response
        assert refusals.nunique() == REFUSALS_PER_PROMPT and all(len(r) < len(answer) for r in refusals)


@pytest.mark.parametrize("rtype", ["safe", "over_refusal"])
def test_labels_follow_the_benign_rules(rows, rtype):
    cfg = DataConfig(lookalike=True)
    got = rows[(rows.category == LOOKALIKE) & (rows.response_type == rtype)][SIGNALS]
    want = pd.Series(LOOKALIKE_LABELS[(LOOKALIKE, rtype)], index=SIGNALS)
    assert got.sub(want, axis=1).abs().le(cfg.label_noise + 1e-9).all().all()
    # refusing a look-alike is safe but costs compliance (and so reward)
    means = rows[rows.category == LOOKALIKE].groupby("response_type")[SIGNALS].mean()
    assert means.loc["over_refusal", "compliance_score"] < means.loc["safe", "compliance_score"] - 0.4
    assert means.loc["over_refusal", "safety_score"] > 0.8


def test_items_are_held_out_in_every_family(rows):
    """One test and one validation item per family (families have >= 5 items), whatever test_families says."""
    look = rows[rows.category == LOOKALIKE]
    items = look[look.response_type == "safe"].groupby("response").split.unique()
    assert items.map(len).eq(1).all()  # an item's prompts (and its answer) sit in one split
    by_family = look[look.response_type == "safe"].drop_duplicates("response").groupby("template_family").split
    for fam, splits in by_family:
        counts = splits.value_counts().to_dict()
        assert counts.get("test") == 1 and counts.get("validation") == 1, (fam, counts)
        assert counts["train"] == len(FAMILIES[fam]) - 2
    by_split = {s: set(g.prompt) | set(g.response[g.response_type == "safe"]) for s, g in look.groupby("split")}
    assert not by_split["test"] & (by_split["train"] | by_split["validation"])  # no prompt or answer crosses over


def test_same_seed_same_rows_other_seed_differs(rows):
    again = generate(DataConfig(lookalike=True))[1]
    other = generate(DataConfig(lookalike=True, seed=43))[1]
    pd.testing.assert_frame_equal(rows, again)
    mine, theirs = (d[d.category == LOOKALIKE][["prompt", "response", "split"]] for d in (rows, other))
    assert not mine.reset_index(drop=True).equals(theirs.reset_index(drop=True))


def test_specific_answers_for_a_share_of_everyday_benign_prompts(rows):
    safe = rows[(rows.category == "benign") & (rows.response_type == "safe")]
    share = safe.response.isin(set(BENIGN_ANSWERS.values())).mean()
    assert abs(share - SPECIFIC_BENIGN_SHARE) < 0.15


def test_knob_off_is_the_templated_dataset(rows):
    _, off = generate(DataConfig(lookalike=False))
    assert LOOKALIKE not in set(off.category)
    assert not off.response.isin(set(BENIGN_ANSWERS.values())).any()
    # everything but the added rows and the swapped benign answers is unchanged
    twin = rows.template_family.str.startswith(TWIN_PREFIX)  # their harmful twins (tests/unit/test_data_twins.py)
    assert len(rows) == len(off) + (REFUSALS_PER_PROMPT + 1) * rows[rows.category == LOOKALIKE].prompt_id.nunique() \
        + 3 * rows[twin].prompt_id.nunique()
    keep = (rows.category != LOOKALIKE) & ~twin
    assert list(rows[keep].prompt) == list(off.prompt)


def test_every_everyday_benign_subject_has_a_specific_answer():
    from saferlhf.data.templates import BENIGN, SLOTS

    assert set(BENIGN_ANSWERS) == set(SLOTS[BENIGN]["task"]) | set(SLOTS[BENIGN]["topic"])


def test_rl_can_skip_the_lookalikes_and_their_twins(tmp_path):
    """`rl.skip_lookalikes`: RL's prompts are the templated ones only (the look-alikes still reach SFT and the
    reward model through the dataset); off, RL gets every prompt of its splits."""
    from saferlhf.artifacts import Layout
    from saferlhf.config import RLConfig
    from saferlhf.data.generate import write_dataset
    from saferlhf.data.lookalike import is_lookalike
    from saferlhf.rl.train import _prompt_dataset

    prompts, df = generate(DataConfig(lookalike=True))
    layout = Layout(tmp_path / "outputs")
    write_dataset(prompts, df, layout.data_dir)
    in_rl = [p for p in prompts if p.split in ("train", "validation")]
    added = {p.prompt for p in in_rl if is_lookalike(p.category, p.template_family)}
    assert any(p.category == LOOKALIKE for p in in_rl) and any(p.template_family.startswith(TWIN_PREFIX) for p in in_rl)
    every = set(_prompt_dataset(layout, RLConfig(), None)["raw_prompt"])
    kept = _prompt_dataset(layout, RLConfig(skip_lookalikes=True), None)
    assert added <= every and not added & set(kept["raw_prompt"])
    assert set(kept["raw_prompt"]) == every - added
    assert LOOKALIKE not in set(kept["category"])
