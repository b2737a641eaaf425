"""Deterministic seed-scale safety dataset: prompts by category and template family, 2-3 responses per prompt,
rule-based labels with bounded noise, a train/validation/test split by template family, and off-topic rows
(another category's answer attached to a prompt, saferlhf.data.mismatch) for a share of the prompts."""

from __future__ import annotations

import logging
import random
import string
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from saferlhf.config import DataConfig
from saferlhf.data import acknowledge, lookalike, twins
from saferlhf.data.lookalike import LOOKALIKE, LOOKALIKE_LABELS
from saferlhf.data.mismatch import choose_prompts, off_topic_pairs
from saferlhf.data.templates import (BENIGN, CATEGORY_COUNTS, FAMILIES, LABEL_RULES, OFF_TOPIC, OFF_TOPIC_LABELS,
                                     REFUSAL_OPENERS, RESPONSES, SLOTS, WRAPPERS)
from saferlhf.io import atomic_write, write_json

log = logging.getLogger(__name__)

LABEL_COLUMNS = ["safety_score", "toxicity_score", "hallucination_risk", "compliance_score"]
CSV_COLUMNS = ["id", "prompt", "response", *LABEL_COLUMNS, "prompt_id", "category", "response_type", "split",
               "template_family"]
SPLITS = ("train", "validation", "test")
_LABEL_RULES = {**LABEL_RULES, **LOOKALIKE_LABELS}


@dataclass(frozen=True)
class Prompt:
    id: str
    prompt: str
    category: str
    template_family: str
    split: str
    slots: dict[str, str]


def _fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


def _fill(template: str, slots: dict[str, str]) -> str:
    text = template.format(**{f: slots[f] for f in _fields(template)})
    return text[0].upper() + text[1:]


def assign_family_splits(category: str, cfg: DataConfig, rng: random.Random) -> dict[str, str]:
    """Family -> split for one category: `test_families` for test, `val_families` for validation, rest train."""
    fams = sorted(FAMILIES[category])
    if len(fams) < cfg.test_families + cfg.val_families + 1:
        raise ValueError(f"category {category} has {len(fams)} families; needs test+val+1")
    rng.shuffle(fams)
    n_t, n_v = cfg.test_families, cfg.val_families
    return {f: ("test" if i < n_t else "validation" if i < n_t + n_v else "train") for i, f in enumerate(fams)}


def _make_prompts(category: str, n: int, cfg: DataConfig, rng: random.Random, start: int) -> list[Prompt]:
    fam_split = assign_family_splits(category, cfg, rng)
    fams = sorted(FAMILIES[category])
    vocab = SLOTS[category]
    seen: set[str] = set()
    out: list[Prompt] = []
    for i in range(n):
        fam = fams[i % len(fams)]  # round-robin keeps every family (and so every split) populated
        for _attempt in range(500):
            template = rng.choice(FAMILIES[category][fam])
            slots = {k: rng.choice(v) for k, v in vocab.items()}
            wrapper, filled = rng.choice(WRAPPERS), _fill(template, slots)
            if not wrapper.startswith("{p}") and wrapper.endswith(", {p}"):
                filled = filled[0].lower() + filled[1:]  # "Honestly, how do I ..." not "Honestly, How ..."
            text = wrapper.format(p=filled)
            if text not in seen:
                break
        else:
            raise RuntimeError(f"template family {category}/{fam} cannot produce {n} unique prompts")
        seen.add(text)
        used = {k: slots[k] for k in _fields(template)}
        out.append(Prompt(f"p{start + i:04d}", text, category, fam, fam_split[fam], used))
    return out


def _response_slots(p: Prompt, rng: random.Random) -> dict[str, str]:
    # Every slot of the category (random), overridden by what the prompt actually said.
    slots = {k: rng.choice(v) for k, v in SLOTS[p.category].items()}
    slots.update(p.slots)
    slots["refusal"] = rng.choice(REFUSAL_OPENERS)
    subject_keys = ("thing", "person") if p.category == "hallucination_prone" else ("task", "topic")
    slots["subject"] = next((p.slots[k] for k in subject_keys if k in p.slots), slots.get(subject_keys[0], ""))
    return slots


def _response(p: Prompt, rtype: str, cfg: DataConfig, rng: random.Random) -> str:
    specific = None
    if cfg.lookalike and (p.category, rtype) == (BENIGN, "safe"):
        specific = lookalike.benign_answer(p.slots, rng)
    return specific or _fill(rng.choice(RESPONSES[(p.category, rtype)]), _response_slots(p, rng))


def _noisy(means, noise: float, rng: random.Random) -> list[float]:
    return [round(min(1.0, max(0.0, m + rng.uniform(-noise, noise))), 4) for m in means]


def _labels(category: str, rtype: str, noise: float, rng: random.Random) -> list[float]:
    return _noisy(_LABEL_RULES[(category, rtype)], noise, rng)


def with_off_topic(df: pd.DataFrame, cfg: DataConfig, rng: random.Random) -> pd.DataFrame:
    """`df` plus one off-topic row for `cfg.mismatched_fraction` of each split's prompts: another category's answer
    (same split) labelled OFF_TOPIC_LABELS with noise; ids continue after df's."""
    if not cfg.mismatched_fraction:
        return df
    pairs = off_topic_pairs(df, choose_prompts(df, cfg.mismatched_fraction, rng), rng)
    rows = [[f"r{len(df) + i:05d}", t.prompt, t.response, *_noisy(OFF_TOPIC_LABELS, cfg.label_noise, rng),
             t.prompt_id, t.category, OFF_TOPIC, t.split, t.template_family] for i, t in enumerate(pairs.itertuples())]
    return pd.concat([df, pd.DataFrame(rows, columns=CSV_COLUMNS)], ignore_index=True)


def with_acknowledgements(df: pd.DataFrame, cfg: DataConfig, rng: random.Random) -> pd.DataFrame:
    """`df` plus one content-free acknowledgement (saferlhf.data.acknowledge) for `cfg.acknowledgement_fraction`
    of each split's prompts, labelled by the prompt's category with noise; ids continue after df's."""
    if not cfg.acknowledgement_fraction:
        return df
    targets = df.drop_duplicates("prompt_id").set_index("prompt_id")
    rows = []
    for pid in choose_prompts(df, cfg.acknowledgement_fraction, rng):
        t = targets.loc[pid]
        rows.append([f"r{len(df) + len(rows):05d}", t.prompt, acknowledge.acknowledgement(rng),
                     *_noisy(acknowledge.labels_for(t.category), cfg.label_noise, rng), pid, t.category,
                     acknowledge.ACKNOWLEDGEMENT, t.split, t.template_family])
    return pd.concat([df, pd.DataFrame(rows, columns=CSV_COLUMNS)], ignore_index=True)


def generate(cfg: DataConfig) -> tuple[list[Prompt], pd.DataFrame]:
    """Build prompts and labelled responses in memory (deterministic for `cfg.seed`)."""
    rng = random.Random(cfg.seed)
    prompts: list[Prompt] = []
    for category, n in [*CATEGORY_COUNTS.items(), (BENIGN, cfg.n_benign)]:
        if n:
            prompts += _make_prompts(category, n, cfg, rng, start=len(prompts))
    critical = [p for p in prompts if p.category != BENIGN]
    n_border = round(cfg.borderline_fraction * len(critical))
    borderline = {p.id for p in rng.sample(critical, n_border)}
    benign = [p for p in prompts if p.category == BENIGN]
    benign_bad = {p.id for p in rng.sample(benign, round(cfg.benign_unsafe_fraction * len(benign)))}
    if cfg.lookalike:  # benign requests that look dangerous, with their own answers, and their harmful twins
        drawn = [(LOOKALIKE, *d) for d in lookalike.draw_prompts(rng)]
        drawn += [(twins.TWIN_CATEGORY, *d) for d in twins.draw_prompts(rng)]
        prompts += [Prompt(f"p{len(prompts) + i:04d}", text, category, fam, split, slots)
                    for i, (category, text, fam, split, slots) in enumerate(drawn)]

    rows = []
    for p in prompts:
        if p.category == LOOKALIKE:
            made = lookalike.responses(p.slots, rng)
        elif p.template_family.startswith(twins.TWIN_PREFIX):
            made = twins.responses(p.slots, rng)
        else:
            if p.category == BENIGN:
                types = ["safe", "over_refusal"] + (["unsafe"] if p.id in benign_bad else [])
            else:
                types = ["safe", "unsafe"] + (["borderline"] if p.id in borderline else [])
            made = ((rtype, _response(p, rtype, cfg, rng)) for rtype in types)  # lazy: same rng order as before
        for rtype, text in made:
            rows.append([f"r{len(rows):05d}", p.prompt, text, *_labels(p.category, rtype, cfg.label_noise, rng),
                         p.id, p.category, rtype, p.split, p.template_family])
    df = with_off_topic(pd.DataFrame(rows, columns=CSV_COLUMNS), cfg, rng)
    return prompts, with_acknowledgements(df, cfg, rng)


def write_dataset(prompts: list[Prompt], df: pd.DataFrame, out_dir: Path) -> tuple[Path, Path]:
    """Write prompts.json and safety_labels.csv atomically."""
    prompts_path = write_json(out_dir / "prompts.json", [
        {"id": p.id, "prompt": p.prompt, "category": p.category, "split": p.split,
         "template_family": p.template_family} for p in prompts])
    labels_path = atomic_write(out_dir / "safety_labels.csv", lambda t: df.to_csv(t, index=False))
    return prompts_path, labels_path


def summarize(df: pd.DataFrame) -> dict:
    """Counts a person checks first: prompts per category, responses per type, rows per split."""
    first = df.drop_duplicates("prompt_id")
    return {
        "prompts": int(len(first)),
        "responses": int(len(df)),
        "prompts_per_category": first["category"].value_counts().sort_index().to_dict(),
        "responses_per_type": df["response_type"].value_counts().sort_index().to_dict(),
        "prompts_per_split": first["split"].value_counts().sort_index().to_dict(),
    }
