"""Evaluation pieces: comparison metrics on hand-made records, prompt selection on the seed dataset, and the
KL(P_RL||P_base) measurement on tiny random GPT-2 models."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from saferlhf.config import DataConfig
from saferlhf.data.generate import generate
from saferlhf.errors import UserError
from saferlhf.evaluate import adversarial_prompts, held_out_prompts, prompt_table, stratified_head
from saferlhf.evaluate.compare import compare_models, relative_reduction
from saferlhf.evaluate.kl import policy_kl


def _rec(category, safety, refusal=False, toxicity=0.1, compliance=0.8, reward=1.0):
    return {"category": category, "safety": safety, "toxicity": toxicity, "hallucination_risk": 0.2,
            "compliance": compliance, "reward": reward, "refusal": refusal, "response": "a b c"}


def test_relative_reduction():
    assert relative_reduction(50.0, 10.0) == pytest.approx(80.0)
    assert relative_reduction(10.0, 20.0) == pytest.approx(-100.0)
    assert math.isnan(relative_reduction(0.0, 0.0))


def test_compare_models_on_known_records():
    base = pd.DataFrame([_rec("harmful_intent", 0.1), _rec("harmful_intent", 0.2), _rec("benign", 0.9),
                         _rec("benign", 0.9)])
    rl = pd.DataFrame([_rec("harmful_intent", 0.9, refusal=True, toxicity=0.05), _rec("harmful_intent", 0.3),
                       _rec("benign", 0.9, refusal=True, compliance=0.4), _rec("benign", 0.9)])
    m = compare_models(base, rl, 0.5)
    assert m["unsafe_output_pct"] == {"base": 50.0, "rl": 25.0, "reduction_pct": 50.0}
    assert m["unsafe_output_pct_harmful"]["base"] == 100.0 and m["unsafe_output_pct_harmful"]["rl"] == 50.0
    assert m["over_refusal"]["base_pct"] == 0.0 and m["over_refusal"]["rl_pct"] == 50.0
    assert m["over_refusal"]["change_points"] == 50.0
    assert m["toxicity_reduction_pct"] == pytest.approx(100 * (0.1 - 0.0875) / 0.1)
    assert m["compliance_improvement_pct"] == pytest.approx(100 * (0.7 - 0.8) / 0.8)
    assert m["per_category_unsafe_pct"]["harmful_intent"] == {"base": 100.0, "rl": 50.0, "n": 2}


@pytest.fixture(scope="module")
def prompts():
    return prompt_table(generate(DataConfig())[1])


def test_held_out_prompts_are_stratified(prompts):
    chosen = held_out_prompts(prompts, "test", 18)
    assert len(chosen) == 18
    assert len({p["category"] for p in chosen}) == prompts["category"].nunique()
    assert {p["id"] for p in chosen} <= set(prompts.loc[prompts["split"] == "test", "id"])
    assert len(stratified_head(prompts, None)) == len(prompts)
    with pytest.raises(UserError, match="split 'holdout' has no prompts"):
        held_out_prompts(prompts, "holdout", None)


def test_adversarial_prompts_take_held_out_first_then_fill(prompts):
    n_test = int(((prompts["split"] == "test") & prompts["category"].isin(["jailbreak", "adversarial"])).sum())
    adv = adversarial_prompts(prompts, "test", n_test + 5)
    split = dict(zip(prompts["id"], prompts["split"]))
    assert len(adv) == n_test + 5
    assert all(split[p["id"]] == "test" for p in adv[:n_test])
    assert all(split[p["id"]] != "test" for p in adv[n_test:])
    assert {p["category"] for p in adv} <= {"jailbreak", "adversarial"}


@pytest.fixture(scope="module")
def tiny_lms():
    from transformers import GPT2Config, GPT2LMHeadModel

    from saferlhf.policy.lm import train_tokenizer

    tok = train_tokenizer(["User: hello there\nAssistant: hi, how can I help you today?"] * 20, 300)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=16, n_layer=1, n_head=2)
    torch.manual_seed(0)
    a, b = GPT2LMHeadModel(cfg).eval(), GPT2LMHeadModel(cfg).eval()
    return a, b, tok


def test_policy_kl_zero_for_same_model_positive_otherwise(tiny_lms):
    a, b, tok = tiny_lms
    prompts, responses = ["hello", "how are you"], ["hi there", "I can help you today"]
    same = policy_kl(a, a, tok, prompts, responses, batch_size=1)
    assert same["sampled"] == pytest.approx(0.0, abs=1e-6) and same["exact"] == pytest.approx(0.0, abs=1e-6)
    n_tokens = sum(len(tok(" " + r, add_special_tokens=False)["input_ids"]) for r in responses)
    assert same["tokens"] == n_tokens
    diff = policy_kl(a, b, tok, prompts, responses)
    assert diff["exact"] > 0 and math.isfinite(diff["sampled"]) and diff["tokens"] == n_tokens
    assert policy_kl(a, b, tok, ["x"], [""])["tokens"] == 0
