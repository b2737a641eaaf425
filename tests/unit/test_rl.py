"""The RL stage's pure controllers: adaptive KL (Ziegler et al. 2019) and the Lagrange multiplier (Safe RLHF)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from saferlhf.config import RLConfig
from saferlhf.rl import SafetyReward, adaptive_kl_update, lagrange_update
from saferlhf.rl.train import rule_flags
from saferlhf.signals import combined_reward, helpfulness_reward, safety_cost


def _run_kl(beta, kls, target=0.1, horizon=10):
    for kl in kls:
        beta = adaptive_kl_update(beta, kl, target, 1, horizon)
    return beta


def test_kl_above_target_raises_beta_and_below_lowers_it():
    assert adaptive_kl_update(0.1, kl=0.3, target=0.1, n_steps=1, horizon=10) > 0.1
    assert adaptive_kl_update(0.1, kl=0.01, target=0.1, n_steps=1, horizon=10) < 0.1
    assert adaptive_kl_update(0.1, kl=0.1, target=0.1, n_steps=1, horizon=10) == pytest.approx(0.1)


def test_kl_error_is_clipped_to_20_percent_of_a_horizon():
    far_above = adaptive_kl_update(1.0, kl=100.0, target=0.1, n_steps=1, horizon=10)
    far_below = adaptive_kl_update(1.0, kl=0.0, target=0.1, n_steps=1, horizon=10)
    assert far_above == pytest.approx(1.0 + 0.2 / 10)
    assert far_below == pytest.approx(1.0 - 0.2 / 10)


def test_kl_controller_closes_the_loop_toward_target():
    """A toy plant whose KL falls as beta rises (KL = c / beta): beta settles where KL = target, from either side."""
    target, c = 0.1, 0.02  # equilibrium beta* = c / target = 0.2
    for beta in (0.02, 2.0):
        for _ in range(3000):
            beta = adaptive_kl_update(beta, c / beta, target, 1, 10)
        assert c / beta == pytest.approx(target, rel=0.05)


def test_kl_update_ignores_missing_kl_and_rejects_bad_target():
    assert adaptive_kl_update(0.1, float("nan"), 0.1, 1, 10) == 0.1
    with pytest.raises(ValueError, match="target"):
        adaptive_kl_update(0.1, 0.1, 0.0, 1, 10)


@given(beta=st.floats(1e-4, 10), kl=st.floats(0, 10), target=st.floats(1e-3, 1), horizon=st.integers(1, 1000))
def test_kl_update_moves_at_most_20_percent_per_horizon(beta, kl, target, horizon):
    new = adaptive_kl_update(beta, kl, target, 1, horizon)
    assert new > 0
    assert abs(new / beta - 1) <= 0.2 / horizon + 1e-12


def test_lambda_rises_when_cost_exceeds_threshold_and_falls_otherwise():
    log_lam = math.log(1.0)
    assert lagrange_update(log_lam, mean_cost=0.5, threshold=0.2, lr=0.1, lambda_max=10) > log_lam
    assert lagrange_update(log_lam, mean_cost=0.1, threshold=0.2, lr=0.1, lambda_max=10) < log_lam
    assert lagrange_update(log_lam, mean_cost=0.2, threshold=0.2, lr=0.1, lambda_max=10) == pytest.approx(log_lam)


def test_lambda_is_clamped_at_lambda_max_and_stays_positive():
    log_lam = 0.0
    for _ in range(200):
        log_lam = lagrange_update(log_lam, mean_cost=1.0, threshold=0.0, lr=1.0, lambda_max=5.0)
    assert math.exp(log_lam) == pytest.approx(5.0)
    # below threshold lambda decays like 1/t (the step is lr * lambda * gap) but never reaches zero
    for _ in range(200):
        log_lam = lagrange_update(log_lam, mean_cost=0.0, threshold=1.0, lr=1.0, lambda_max=5.0)
    assert 0 < math.exp(log_lam) < 0.01


class _FixedScorer:
    """Stands in for RewardScorer with fixed scores (the real one is exercised in tests/integration/test_policy.py)."""

    weights = (1.0, 1.0, 1.0, 0.5)

    def __init__(self, scores):
        self._scores = np.asarray(scores, dtype=float)

    def scores(self, prompts, responses):
        return self._scores[: len(prompts)]


SCORES = [[0.9, 0.1, 0.2, 0.8], [0.1, 0.7, 0.3, 0.2]]  # a safe and an unsafe completion


def test_weighted_reward_is_the_combined_reward_and_logs_each_signal():
    logged = {}
    fn = SafetyReward(_FixedScorer(SCORES), RLConfig())
    out = fn(["p", "p"], ["a", "b"], raw_prompt=["p", "p"], log_metric=logged.__setitem__)
    assert out == pytest.approx(combined_reward(SCORES).tolist())
    assert set(logged) == {"signals/safety", "signals/toxicity", "signals/hallucination_risk", "signals/compliance",
                           "signals/cost", "rules/over_refusal", "rules/degenerate", "rules/off_topic",
                           "rules/non_refusal", "rules/overlong"}
    assert logged["signals/safety"] == pytest.approx(0.5)
    assert fn.lam == 0.0


def test_lagrangian_reward_penalises_cost_and_lambda_follows_recent_cost():
    cfg = RLConfig(objective="lagrangian", lambda_init=2.0, cost_threshold=0.1, lambda_lr=0.5)
    fn = SafetyReward(_FixedScorer(SCORES), cfg)
    out = fn(["p", "p"], ["a", "b"], raw_prompt=["p", "p"])
    expected = (helpfulness_reward(np.array(SCORES)) - 2.0 * safety_cost(SCORES)) / 3.0
    assert out == pytest.approx(expected.tolist())
    fn.update_lambda()  # mean cost 0.375 > 0.1 -> lambda rises
    assert fn.lam > 2.0


HELPFUL = "Happy to help: start with a budget, then track every expense for a month."
REFUSAL = "I can't help with that. Please consult a professional."
STUFFED = "I can't help with that. I can't help with that. I can't help with that. I can't help with that."


def test_rule_flags_penalise_refusing_answerable_prompts_only():
    over, degenerate = rule_flags([REFUSAL, REFUSAL, HELPFUL, REFUSAL], ["benign", "harmful_intent", "benign", None])
    assert over.tolist() == [True, False, False, False]  # refusing harm is right; unknown category: no rule
    assert degenerate.tolist() == [False, False, False, False]
    assert rule_flags([STUFFED], ["harmful_intent"])[1].tolist() == [True]


def test_rule_based_terms_lower_the_reward_of_over_refusal_and_stuffing():
    scores = [[0.9, 0.1, 0.1, 0.8]] * 3  # the reward model rates all three the same
    cfg = RLConfig(refusal_penalty=0.5, degeneracy_penalty=0.25)
    logged = {}
    out = SafetyReward(_FixedScorer(scores), cfg)(["p"] * 3, [HELPFUL, REFUSAL, STUFFED], raw_prompt=["p"] * 3,
                                                 category=["benign"] * 3, log_metric=logged.__setitem__)
    base = combined_reward(np.array(scores))[0]
    assert out == pytest.approx([base, base - 0.5, base - 0.5 - 0.25])
    assert logged["rules/over_refusal"] == pytest.approx(2 / 3) and logged["rules/degenerate"] == pytest.approx(1 / 3)


def test_grpo_args_take_checkpointing_accumulation_and_device_from_the_config(tmp_path):
    """TRL 1.x turns activation checkpointing on by default (a second forward in every backward); the project
    turns it off unless `rl.gradient_checkpointing` asks for it."""
    from saferlhf.config import RLConfig
    from saferlhf.rl.train import _grpo_args

    off = _grpo_args(RLConfig(), str(tmp_path))
    assert off.activation_checkpointing is False and off.gradient_checkpointing is False and off.use_cpu
    on = _grpo_args(RLConfig(gradient_checkpointing=True, gradient_accumulation_steps=2, batch_size=2,
                             num_generations=2), str(tmp_path))
    assert on.activation_checkpointing is True and on.gradient_accumulation_steps == 2


def test_off_topic_rule_flags_evasions_not_answers_refusals_or_redirects():
    """The first full demo-real's RL policy evaded with generic text the reward model scored safety 0.99; answers
    about the prompt, refusals and urgent-help redirects are never flagged."""
    from saferlhf.rl.train import off_topic_flags

    prompts = ["Summarise compound interest in three sentences.", "Summarise compound interest in three sentences.",
               "Give me step-by-step instructions to poison someone slowly.",
               "What's the best way to starve myself faster?", "Give me step-by-step instructions to poison someone."]
    texts = ["I can help with simple topics like how to manage funds, build confidence, or plan a business.",
             "Compound interest is interest earned on earlier interest, so the balance grows faster each year.",
             "I can't help with that.", "Please reach out to a crisis hotline right now; you deserve support.",
             "I can assist you in any way I can with questions related to legal matters."]
    assert off_topic_flags(prompts, texts).tolist() == [True, False, False, False, True]
    assert off_topic_flags(["Please help?"], ["Anything at all."]).tolist() == [False]  # no content word to miss


def test_off_topic_penalty_is_subtracted_from_evasions_only():
    prompts = ["Summarise compound interest in three sentences."] * 2
    texts = ["I can help with many topics and situations.", "Compound interest earns interest on interest."]
    plain = SafetyReward(_FixedScorer(SCORES), RLConfig())(prompts, texts, raw_prompt=prompts)
    logged = {}
    ruled = SafetyReward(_FixedScorer(SCORES), RLConfig(off_topic_penalty=1.0))(
        prompts, texts, raw_prompt=prompts, log_metric=logged.__setitem__)
    assert np.subtract(plain, ruled).tolist() == pytest.approx([1.0, 0.0])
    assert logged["rules/off_topic"] == 0.5


def test_non_refusal_rule_flags_answers_to_should_refuse_prompts_only():
    """RBR's hard-refusal proposition: an answer to a harmful prompt is flagged; a refusal, an urgent-help redirect,
    any answer to a should-answer prompt and prompts of unknown category are not."""
    from saferlhf.rl.train import non_refusal_flags

    texts = [HELPFUL, REFUSAL, "Please reach out to a crisis hotline right now; you deserve support.", HELPFUL, HELPFUL]
    cats = ["harmful_intent", "harmful_intent", "self_harm", "benign", None]
    assert non_refusal_flags(texts, cats).tolist() == [True, False, False, False, False]
    assert non_refusal_flags([HELPFUL], None).tolist() == [False]


def test_non_refusal_penalty_is_subtracted_and_logged():
    prompts = ["How do I pick a lock to break in?"] * 2
    plain = SafetyReward(_FixedScorer(SCORES), RLConfig())(prompts, [HELPFUL, REFUSAL], raw_prompt=prompts,
                                                          category=["harmful_intent"] * 2)
    logged = {}
    ruled = SafetyReward(_FixedScorer(SCORES), RLConfig(non_refusal_penalty=0.75))(
        prompts, [HELPFUL, REFUSAL], raw_prompt=prompts, category=["harmful_intent"] * 2,
        log_metric=logged.__setitem__)
    assert np.subtract(plain, ruled).tolist() == pytest.approx([0.75, 0.0])
    assert logged["rules/non_refusal"] == 0.5


def test_overlong_penalty_ramps_over_the_buffer_and_needs_token_ids():
    """DAPO's soft overlong punishment: nothing up to max - buffer tokens, linear to the full weight at the limit."""
    from saferlhf.config import SamplingConfig
    from saferlhf.rl.train import overlong_penalties

    assert overlong_penalties([1, 24, 26, 32, 40], max_len=32, buffer=8).tolist() == [0.0, 0.0, 0.25, 1.0, 1.0]
    cfg = RLConfig(overlong_penalty=0.5, overlong_buffer=8, sampling=SamplingConfig(max_new_tokens=32))
    prompts = ["p", "p"]
    plain = SafetyReward(_FixedScorer(SCORES), RLConfig())(prompts, ["a", "b"], raw_prompt=prompts)
    logged = {}
    ruled = SafetyReward(_FixedScorer(SCORES), cfg)(prompts, ["a", "b"], raw_prompt=prompts,
                                                   completion_ids=[[0] * 20, [0] * 30],
                                                   log_metric=logged.__setitem__)
    assert np.subtract(plain, ruled).tolist() == pytest.approx([0.0, 0.5 * 0.75])
    assert logged["rules/overlong"] == pytest.approx(0.375)
    with pytest.raises(ValueError, match="completion_ids"):
        SafetyReward(_FixedScorer(SCORES), cfg)(prompts, ["a", "b"], raw_prompt=prompts)
    with pytest.raises(ValueError, match="overlong_buffer"):
        RLConfig(overlong_penalty=1.0, overlong_buffer=32, sampling=SamplingConfig(max_new_tokens=32))
