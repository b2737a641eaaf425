"""Benign requests that *look* dangerous (the XSTest prompt types: homonyms, figurative language, safe targets,
safe contexts, definitions, history, real discrimination questions, public figures and fictional characters),
each written out with a specific, factual answer, plus (benign_answers.py) specific answers for the everyday benign tasks.

Why: the templated dataset only ever rewards "Sure! To {subject}, start with the basics ..." and penalises templated
over-refusals, so a reward model trained on it scores a short refusal above a real, specific answer for prompts
outside its templates ("Where did a scientist study?" -> "I can't share information about people." wins). Here
every prompt gets its own answer (not one generic template) labelled safe and compliant, and several refusal
wordings that name the alarming word ("I can't help with killing.") labelled over-refusal: safe, not compliant.

A family is one prompt type. Splits hold out *items* within every family (ITEM_SPLITS), not whole families as for
the templates: the benchmark fixture is the held-out measure of new subjects, and holding out a whole type taught
nothing about it (seed 42 held out `definitions`, and the reward model then ranked refusals above XSTest's "What is
arson?"-style answers; docs/safety-benchmarks.md). The prompts are
written for this module, on other subjects than the benchmark fixture (tests/fixtures/benchmarks), which stays
held out (tests/unit/test_benchmark_heldout.py).
"""

from __future__ import annotations

import random

from saferlhf.data.benign_answers import BENIGN_ANSWERS
from saferlhf.data.lookalike_items import FAMILIES  # family -> [(alarming word, phrasings, specific answer)]
from saferlhf.data.templates import BENIGN, LABEL_RULES, REFUSAL_OPENERS, WRAPPERS

LOOKALIKE = "lookalike"
PROMPTS_PER_ITEM = 2  # each item asked twice, under two different wrappers (or phrasings)
REFUSALS_PER_PROMPT = 2  # distinct over-refusal wordings per prompt
SPECIFIC_BENIGN_SHARE = 0.5  # share of everyday benign prompts whose safe answer is the specific one below

# Same label means as refusing / answering a benign request (templates.LABEL_RULES).
LOOKALIKE_LABELS: dict[tuple[str, str], tuple[float, float, float, float]] = {
    (LOOKALIKE, t): LABEL_RULES[(BENIGN, t)] for t in ("safe", "over_refusal")}

# Refusals of a harmless request, keyed on its alarming word ({focus}); {refusal} is a generic opener.
OVER_REFUSALS = [
    "I can't help with {focus}.", "Sorry, I can't talk about {focus}.", "I'm not able to give advice on {focus}.",
    "I won't explain anything about {focus}; it could be dangerous.", "I'd rather not get into {focus}, so I won't answer.",
    "I cannot provide information on {focus}. If someone is in danger, contact the authorities.",
    "Sorry, but I can't assist with questions about {focus}.", "{refusal}", "{refusal} Topics like {focus} are off limits.",
    "I'm not comfortable discussing {focus}.", "As an AI, I can't help with {focus}. Please ask a professional.",
    "Sorry, I can't discuss {focus}.", "I can't share information about {focus}.",
]


def is_lookalike(category: str | None, template_family: str | None) -> bool:
    """A prompt this module or its harmful twins (saferlhf.data.twins, family "twin_<family>") added."""
    from saferlhf.data.twins import TWIN_PREFIX  # twins imports this module

    return category == LOOKALIKE or (template_family or "").startswith(TWIN_PREFIX)


def wrap(wrapper: str, text: str) -> str:
    if wrapper.endswith(", {p}"):
        text = text[0].lower() + text[1:]  # "Honestly, how do I ..." not "Honestly, How ..."
    return wrapper.format(p=text)


def item_splits(n: int, rng: random.Random) -> list[str]:
    """Split of each of a family's n items: one test item from 3 items up, one validation item from 5 up."""
    order = rng.sample(range(n), n)
    n_test, n_val = int(n >= 3), int(n >= 5)
    rank = {i: r for r, i in enumerate(order)}
    return ["test" if rank[i] < n_test else "validation" if rank[i] < n_test + n_val else "train" for i in range(n)]


def draw_prompts(rng: random.Random) -> list[tuple[str, str, str, dict[str, str]]]:
    """(prompt text, family, split, slots) for every item, PROMPTS_PER_ITEM distinct texts each; slots name the item."""
    out, seen = [], set()
    for fam in sorted(FAMILIES):
        for idx, ((focus, phrasings, _), split) in enumerate(zip(FAMILIES[fam], item_splits(len(FAMILIES[fam]), rng))):
            options = [wrap(w, p) for p in phrasings for w in dict.fromkeys(WRAPPERS)]
            texts = [t for t in options if t not in seen]
            for text in rng.sample(texts, PROMPTS_PER_ITEM):
                seen.add(text)
                out.append((text, fam, split, {"item": f"{fam}/{idx}", "focus": focus}))
    return out


def responses(slots: dict[str, str], rng: random.Random) -> list[tuple[str, str]]:
    """(response type, text): the item's specific answer, then REFUSALS_PER_PROMPT distinct over-refusals."""
    fam, idx = slots["item"].split("/")
    answer = FAMILIES[fam][int(idx)][2]
    refusals = [t.format(focus=slots["focus"], refusal=rng.choice(REFUSAL_OPENERS))
                for t in rng.sample(OVER_REFUSALS, REFUSALS_PER_PROMPT)]
    return [("safe", answer)] + [("over_refusal", r) for r in refusals]


def benign_answer(slots: dict[str, str], rng: random.Random) -> str | None:
    """The specific answer for an everyday benign prompt's task/topic, for SPECIFIC_BENIGN_SHARE of them; else None."""
    key = slots.get("task") or slots.get("topic")
    return BENIGN_ANSWERS.get(key) if rng.random() < SPECIFIC_BENIGN_SHARE else None
