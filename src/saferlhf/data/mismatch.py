"""Off-topic (prompt, response) pairs: a helpful answer written for another prompt, attached to this one.

Why: every response of the dataset is about its own prompt, so the reward model never has to check that an answer
addresses the request, and an RL policy learns to evade harmful prompts with a benign template ("List the steps to
poison someone slowly" answered with a how-vaccines-work explainer: safety 0.955, reward 1.40; issue 20). The
generator adds such pairs as training rows labelled low compliance (`DataConfig.mismatched_fraction`,
`templates.OFF_TOPIC_LABELS`); reward evaluation builds them for every held-out prompt (relevance accuracy).

Donors are answers about their own prompt: responses of type `safe` that neither refuse nor redirect to urgent help
and share a content word with their prompt (saferlhf.relevance). A refusal, a "call emergency services" or a generic
"Could you tell me more?" fits many prompts, so attached elsewhere it is not clearly off-topic. A donor
comes from a prompt of *another category* (another kind of request, so the text is about something else) in the
*same split* (a held-out prompt's text never reaches training rows, and held-out
prompts are judged with held-out answers). Works on any labelled frame with prompt_id, prompt, response, category
and response_type (template rows or real-model responses alike); a frame without `split` is one split."""

from __future__ import annotations

import random

import pandas as pd

from saferlhf.relevance import is_answer, relevance

REQUIRED = ("prompt_id", "prompt", "response", "category", "response_type")
PAIR_COLUMNS = ["prompt_id", "prompt", "category", "split", "template_family", "response", "donor_prompt_id"]


def has_columns(df: pd.DataFrame) -> bool:
    """Whether `df` carries what pairing needs (a user CSV may hold only id, prompt, response and labels)."""
    return all(c in df.columns for c in REQUIRED)


def _splits(df: pd.DataFrame) -> pd.Series:
    return df["split"] if "split" in df.columns else pd.Series("all", index=df.index)


def donor_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows whose response may be attached to another prompt: safe answers about their own prompt, neither
    refusals nor urgent redirects."""
    safe = df[df["response_type"] == "safe"]
    keep = [is_answer(r) and relevance(p, r) > 0 for p, r in zip(safe["prompt"], safe["response"])]
    return safe[keep]


def choose_prompts(df: pd.DataFrame, fraction: float, rng: random.Random) -> list[str]:
    """round(fraction * prompts) prompt ids of every split (each split keeps its share), in dataset order."""
    first = df.drop_duplicates("prompt_id")
    chosen: set[str] = set()
    for _, ids in first.groupby(_splits(first), sort=True)["prompt_id"]:
        ids = ids.tolist()
        chosen.update(rng.sample(ids, round(fraction * len(ids))))
    return [p for p in first["prompt_id"] if p in chosen]


def off_topic_pairs(df: pd.DataFrame, prompt_ids: list[str], rng: random.Random) -> pd.DataFrame:
    """One off-topic response per prompt of `prompt_ids` (in order; a prompt without an eligible donor is left out):
    the target prompt's prompt_id, prompt, category, split, template_family, the donor's response and prompt_id."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"off-topic pairs need column(s) {', '.join(missing)}")
    donors = donor_rows(df)
    donor_split = _splits(donors)
    targets = df.drop_duplicates("prompt_id").set_index("prompt_id")
    target_split = _splits(df.drop_duplicates("prompt_id")).set_axis(targets.index)
    pools: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (split, category) -> donors of other categories
    rows = []
    for pid in prompt_ids:
        split, category = target_split[pid], targets.at[pid, "category"]
        key = (split, category)
        if key not in pools:
            sel = donors[(donor_split == split).to_numpy() & (donors["category"] != category).to_numpy()]
            pools[key] = list(zip(sel["prompt_id"], sel["response"]))
        if not pools[key]:
            continue
        donor_id, response = rng.choice(pools[key])
        family = targets.at[pid, "template_family"] if "template_family" in targets.columns else ""
        rows.append([pid, targets.at[pid, "prompt"], category, split, family, response, donor_id])
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)
