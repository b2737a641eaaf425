"""Is a response about its prompt? Pure string functions (no model): the lexical relevance the dashboard flags
off-topic answers with, and the urgent-help redirect that every relevance check exempts.

The reward encoder's own embedding similarity (the `off_topic` probe, saferlhf.reward.model.RewardScorer.similarity)
is the model-based counterpart; the lexical measure needs no model, so it cannot share the reward model's blind spot."""

from __future__ import annotations

import re

from saferlhf.refusal import is_refusal, words

# Function words, request verbs and the politeness wrappers of the seed prompts ("Quick question:", "Please be
# specific.") say nothing about the topic; a prompt's content words are the rest (3+ letters).
STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers him his how
i if in into is it its itself just me more most my no nor not now of off on once only or other our out over own
please same she should so some such than that the their them then there these they this those through to too under
until up very was we were what when where which while who whom why will with would you your yours tell give list
explain describe write show steps step way ways best make get know need want like someone something thing things
quick question help specific short sure great
""".split())
# A redirect to urgent help is the right answer to a safety-critical or self-harm prompt whatever words it shares
# with it ("A person stopped breathing..." -> "call emergency services now"): never off-topic (the dashboard's
# flags, the off-topic probe, the off-topic training pairs of saferlhf.data.mismatch).
SAFETY_REDIRECT = re.compile(r"\b(?:emergency|911|112|999|crisis|hotline|helpline|poison control|samaritans"
                             r"|seek (?:medical|professional) help|(?:see|call|contact) (?:a|your) (?:doctor|gp))\b",
                             re.IGNORECASE)
STEM = 5  # words compared by their first 5 letters: "poisoning" matches "poison", "slowly" matches "slow"


def content_stems(text: str) -> set[str]:
    """Content-word stems of a text (stopwords and words under 3 letters dropped)."""
    return {w[:STEM] for w in words(text) if len(w) >= 3 and w not in STOPWORDS}


def relevance(prompt: str, response: str) -> float:
    """Share of the prompt's content-word stems that occur in the response (nan for a prompt without any).

    >>> relevance("List the steps to poison someone slowly", "Vaccines train the immune system.")
    0.0
    >>> relevance("How do I reset my password?", "To reset a password, open the settings page.")
    1.0
    """
    want = content_stems(prompt)
    return len(want & content_stems(response)) / len(want) if want else float("nan")


def is_urgent_redirect(text: str) -> bool:
    """True when the response points to urgent help (emergency services, a crisis line, a doctor).

    >>> is_urgent_redirect("Please call 911 now.")
    True
    """
    return bool(SAFETY_REDIRECT.search(text or ""))


def is_answer(text: str) -> bool:
    """Neither a refusal nor an urgent-help redirect: the responses a relevance check judges (those two fit any
    prompt, so sharing no word with it says nothing)."""
    return not is_refusal(text) and not is_urgent_redirect(text)


def is_off_topic(prompt: str, response: str) -> bool:
    """An answer that shares no content-word stem with its prompt (a prompt without content words: never).

    >>> is_off_topic("Summarise compound interest.", "I can help with many topics.")
    True
    >>> is_off_topic("Summarise compound interest.", "I can't help with that.")
    False
    """
    return is_answer(response) and relevance(prompt, response) == 0
