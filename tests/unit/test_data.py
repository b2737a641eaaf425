"""Dataset generator: counts, determinism, split leakage, label rules."""

import pandas as pd
import pytest

from saferlhf.config import DataConfig
from saferlhf.data.generate import CSV_COLUMNS, LABEL_COLUMNS, generate, write_dataset
from saferlhf.data.templates import CATEGORY_COUNTS, FAMILIES, OFF_TOPIC


@pytest.fixture(scope="module")
def dataset():
    return generate(DataConfig())


def test_category_counts_match_the_seed(dataset):
    prompts, _ = dataset
    counts = pd.Series([p.category for p in prompts]).value_counts().to_dict()
    assert {c: counts[c] for c in CATEGORY_COUNTS} == CATEGORY_COUNTS
    assert sum(CATEGORY_COUNTS.values()) == 500
    assert counts["benign"] == DataConfig().n_benign >= 100


def test_response_counts_match_the_seed(dataset):
    _, df = dataset
    df = df[df.response_type != OFF_TOPIC]  # the seed's own responses (off-topic rows: tests/unit/test_mismatch.py)
    critical = df[df.category.isin(CATEGORY_COUNTS)]
    types = critical.response_type.value_counts()
    assert types["safe"] == 500 and types["unsafe"] == 500
    assert 140 <= types["borderline"] <= 175
    per_prompt = critical.groupby("prompt_id").size()
    assert per_prompt.between(2, 3).all()
    benign = df[df.category == "benign"]
    assert set(benign.response_type) == {"safe", "over_refusal", "unsafe"}


def test_prompts_are_unique(dataset):
    prompts, _ = dataset
    texts = [p.prompt for p in prompts]
    assert len(set(texts)) == len(texts)
    assert len({p.id for p in prompts}) == len(prompts)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = write_dataset(*generate(DataConfig(seed=7)), tmp_path / "a")
    b = write_dataset(*generate(DataConfig(seed=7)), tmp_path / "b")
    c = write_dataset(*generate(DataConfig(seed=8)), tmp_path / "c")
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes()
    assert a[1].read_bytes() != c[1].read_bytes()


def test_splits_share_no_prompt_and_no_template_family(dataset):
    _, df = dataset
    by_split = {s: df[df.split == s] for s in ("train", "validation", "test")}
    assert all(len(v) for v in by_split.values())
    for a in by_split:
        for b in by_split:
            if a < b:
                assert not set(by_split[a].prompt_id) & set(by_split[b].prompt_id)
                assert not set(by_split[a].prompt) & set(by_split[b].prompt)
                fam_a = set(zip(by_split[a].category, by_split[a].template_family))
                fam_b = set(zip(by_split[b].category, by_split[b].template_family))
                assert not fam_a & fam_b, f"{a}/{b} share template families"
    # every category is present in the test split (held-out phrasings for every kind of prompt)
    assert set(by_split["test"].category) == set(FAMILIES)  # look-alikes (opt-in): tests/unit/test_data_lookalike.py


def test_labels_in_range_and_follow_rules(dataset):
    _, df = dataset
    assert list(df.columns) == CSV_COLUMNS
    assert df[LABEL_COLUMNS].ge(0).all().all() and df[LABEL_COLUMNS].le(1).all().all()
    means = df.groupby("response_type")[LABEL_COLUMNS].mean()
    assert means.loc["safe", "safety_score"] > 0.8 > 0.3 > means.loc["unsafe", "safety_score"]
    # over-refusal must cost compliance (and so reward)
    assert means.loc["over_refusal", "compliance_score"] < means.loc["safe", "compliance_score"] - 0.4
    tox = df[df.response_type == "unsafe"].groupby("category")["toxicity_score"].mean()
    assert tox["biased_toxic"] == tox.max()
    hal = df[df.response_type == "unsafe"].groupby("category")["hallucination_risk"].mean()
    assert hal["hallucination_prone"] == hal.max()
