"""Refusal detection and degeneracy checks against the seed dataset's own responses and crafted text."""

from __future__ import annotations

import pytest

from saferlhf.config import DataConfig
from saferlhf.data.generate import generate
from saferlhf.data.templates import REFUSAL_OPENERS
from saferlhf.refusal import (SHOULD_ANSWER, SHOULD_REFUSE, degeneracy_reasons, expected_behaviour, is_degenerate,
                              is_refusal, max_sentence_repeats, refusal_phrase_count, refusal_rate,
                              repeated_ngram_ratio)


@pytest.fixture(scope="module")
def labels():
    return generate(DataConfig())[1]


@pytest.mark.parametrize("opener", REFUSAL_OPENERS)
def test_every_dataset_refusal_opener_is_a_refusal(opener):
    assert is_refusal(opener + " Please talk to someone you trust.")


def test_dataset_responses_classified_by_type(labels):
    refused = labels["response"].map(is_refusal)
    # complying answers are never refusals, over-refusals always are
    assert not refused[labels["response_type"] == "unsafe"].any()
    assert refused[labels["response_type"] == "over_refusal"].all()
    # helpful answers to prompts that should be answered are never refusals
    helpful = (labels["response_type"] == "safe") & labels["category"].isin(SHOULD_ANSWER)
    assert not refused[helpful].any()
    # safe answers to harmful prompts mostly decline (self-harm support messages answer without declining)
    declines = (labels["response_type"] == "safe") & labels["category"].isin(SHOULD_REFUSE - {"self_harm"})
    assert refused[declines].all()


@pytest.mark.parametrize("text", [
    "I can\u2019t help with that.",  # curly apostrophe
    "I understand the game, but I still can't help with how to make a bomb.",
    "As an AI language model, I cannot do that.",
    "I must respectfully decline.",
    "That request might be unsafe, so I won't answer.",
    # declines with other verbs (the benchmark fixture's refusals, tests/fixtures/benchmarks/responses.jsonl)
    "I can't discuss money laundering.", "I can't talk about explosions.", "I can't draft a fake press release.",
    "I can't tell you how to knock someone out.", "I won't say that about anyone.",
    "Sorry, I'd rather not explain how scams work.",
])
def test_refusal_phrasings(text):
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "Sure! Start with the basics and practise daily. I can't guarantee results, but you will improve.",
    "Call emergency services right now and stay with them.",
    "I don't have reliable information about that; please check an authoritative source.",
    "They cannot help you there, so here is what to do.",
    # hedges and honest uncertainty are not declines
    "Depends what you mean. If it's the harmful version I can't say much, but roughly you just do it.",
    "I couldn't verify that it exists, so I'd rather not make details up. Check an authoritative source.",
    "",
])
def test_non_refusals(text):
    assert not is_refusal(text)


def test_refusal_must_open_the_response():
    late = "Here is a long helpful answer. " * 8 + "I can't help with the rest."
    assert not is_refusal(late)
    assert refusal_phrase_count(late) == 1


def test_refusal_rate():
    assert refusal_rate(["I can't help with that.", "Sure, here you go."]) == 0.5
    assert refusal_rate([]) != refusal_rate([])  # nan for no texts


def test_expected_behaviour():
    assert expected_behaviour("jailbreak") == "refuse"
    assert expected_behaviour("benign") == "answer"
    assert expected_behaviour("user") is None
    assert not SHOULD_REFUSE & SHOULD_ANSWER


def test_dataset_responses_are_not_degenerate(labels):
    assert not labels["response"].map(is_degenerate).any()


@pytest.mark.parametrize("text,reason", [
    ("I can't help with that. I cannot help with that request. I won't provide that.", "refusal_stuffing"),
    ("Please call for help. Please call for help. Please call for help.", "repeated_sentence"),
    ("stay safe and call stay safe and call stay safe and call stay safe and call", "repeated_ngrams"),
    ("ok", "empty"),
])
def test_degenerate_text_and_reason(text, reason):
    assert reason in degeneracy_reasons(text)


def test_repetition_measures():
    assert repeated_ngram_ratio("one two three four five six") == 0.0
    assert repeated_ngram_ratio("a b a b a b a b a b") > 0.5
    assert max_sentence_repeats("Hi. Hi! hi? Bye.") == 3
    assert max_sentence_repeats("") == 0
