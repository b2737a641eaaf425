"""Sampling from a saved policy: batched, left-padded, KV-cached generation (the seed's generate_responses)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import ContrastConfig, GenerateConfig
from saferlhf.device import compute_of, to_device
from saferlhf.io import write_json
from saferlhf.policy.chat import decode_completions, end_token_ids, format_prompt
from saferlhf.progress import progress
from saferlhf.policy.store import load_policy
from saferlhf.results import ContrastResult

log = logging.getLogger(__name__)


@torch.no_grad()
def generate_responses(model, tokenizer, prompts: list[str], num_responses: int = 1, max_new_tokens: int = 48,
                       temperature: float = 0.7, top_k: int = 50, top_p: float = 0.95, batch_size: int = 32,
                       seed: int = 42, system: str | None = None) -> list[list[str]]:
    """`num_responses` sampled completions per prompt (completion text only, decoded and stripped); `system`
    replaces the policy's system prompt (chat-template policies only)."""
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"  # left padding: every row's next token sits at the last position
    texts = [format_prompt(tokenizer, p, system) for p in prompts]
    end_ids = end_token_ids(model, tokenizer)  # stop at any of the model's end tokens (<|im_end|>, <|endoftext|>)
    out: list[list[str]] = []
    starts = range(0, len(texts), batch_size)
    bar = progress(len(starts), f"generate {len(texts)} prompts x {num_responses}", unit="batches")
    for i in starts:
        enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True)  # BOS where the model expects
        enc = to_device(enc, model.device)
        seqs = model.generate(**enc, do_sample=True, temperature=temperature, top_k=top_k or None, top_p=top_p,
                              max_new_tokens=max_new_tokens, num_return_sequences=num_responses, use_cache=True,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=end_ids)
        new = seqs[:, enc["input_ids"].shape[1]:]  # (B*num_responses, <=max_new_tokens)
        decoded = decode_completions(tokenizer, new, end_ids)
        out.extend(decoded[j:j + num_responses] for j in range(0, len(decoded), num_responses))
        bar.update(1)
    bar.close()
    return out


def run_generate(cfg: GenerateConfig, layout: Layout) -> dict:
    """Sample responses for a prompt file and write `[{"id", "prompt", "category", "responses"}]` as JSON."""
    from saferlhf.data.loader import load_prompts

    records = load_prompts(resolve(cfg.prompts_path, layout.prompts))
    model, tokenizer = load_policy(resolve(cfg.model_path, layout.base_policy), compute_of(cfg).device)
    responses = generate_responses(model, tokenizer, [r["prompt"] for r in records], cfg.num_responses,
                                   **cfg.sampling.model_dump(), batch_size=cfg.batch_size, seed=cfg.seed)
    out_path = resolve(cfg.output_path, layout.generations)
    write_json(out_path, [{**r, "responses": rs} for r, rs in zip(records, responses)])
    return {"output_path": str(out_path), "num_prompts": len(records), "num_responses": cfg.num_responses}


def run_contrast(cfg: ContrastConfig, layout: Layout) -> ContrastResult:
    """`saferlhf data contrast`: the policy's own answers under two steering system prompts, labelled where the
    refusal detector agrees (saferlhf.data.contrast), appended to the labels -> one CSV for reward training
    (`Layout.training_labels` picks it up). Off (`contrast.enabled` false): only the report, and no stale CSV."""
    out = resolve(cfg.output_path, layout.contrast_labels)
    if cfg.enabled:
        result = _contrast(cfg, layout, out)
    else:
        out.unlink(missing_ok=True)  # the reward stage must not train on an earlier run's answers
        log.info("contrast: off (contrast.enabled false), the reward model trains on the generator's labels")
        result = ContrastResult(enabled=False, prompts=0, rows_added=0)
    write_json(layout.contrast / "contrast_summary.json", result.model_dump(mode="json"))
    return result


def _contrast(cfg: ContrastConfig, layout: Layout, out: Path) -> ContrastResult:
    import time

    from saferlhf.data import contrast
    from saferlhf.data.loader import load_labels
    from saferlhf.errors import UserError
    from saferlhf.io import atomic_write
    from saferlhf.policy.chat import has_chat_template

    start = time.time()
    labels = load_labels(resolve(cfg.data_path, layout.labels))
    model, tokenizer = load_policy(resolve(cfg.model_path, layout.base_policy), compute_of(cfg).device)
    if not has_chat_template(tokenizer):  # a system prompt needs a chat template to reach the model
        raise UserError(f"{resolve(cfg.model_path, layout.base_policy)}: contrastive responses need a chat-template "
                        "policy (policy.model_name), the from-scratch GPT-2 has no system prompt")

    safety = cfg.safety_system or contrast.SAFETY_SYSTEM

    def generate(prompts: list[str], system: str) -> list[str]:
        log.info("contrast: %d answers under the %s system prompt", len(prompts),
                 "safety" if system == safety else "compliance")
        return [r[0] for r in generate_responses(model, tokenizer, prompts, 1, **cfg.sampling.model_dump(),
                                                 batch_size=cfg.batch_size, seed=cfg.seed, system=system)]

    try:
        frame, stats = contrast.contrast_frame(labels, generate, cfg.splits, cfg.max_prompts_per_split, safety,
                                               cfg.compliance_system or contrast.COMPLIANCE_SYSTEM,
                                               samples=cfg.samples_per_steering)
    except ValueError as e:
        raise UserError(f"{resolve(cfg.data_path, layout.labels)}: {e}") from None
    atomic_write(out, lambda p: frame.to_csv(p, index=False))
    for key, s in stats["by_steering"].items():
        log.info("contrast %s: kept %d of %d as %s", key, s["kept"], s["answers"], s["type"])
    return ContrastResult(enabled=True, output_path=str(out), seconds=round(time.time() - start, 1), **stats)
