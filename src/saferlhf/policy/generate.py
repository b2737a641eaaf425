"""Sampling from a saved policy: batched, left-padded, KV-cached generation (the seed's generate_responses)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import GenerateConfig
from saferlhf.device import compute_of, to_device
from saferlhf.io import write_json
from saferlhf.policy.chat import decode_completions, end_token_ids, format_prompt
from saferlhf.progress import progress
from saferlhf.policy.store import load_policy

log = logging.getLogger(__name__)


@torch.no_grad()
def generate_responses(model, tokenizer, prompts: list[str], num_responses: int = 1, max_new_tokens: int = 48,
                       temperature: float = 0.7, top_k: int = 50, top_p: float = 0.95, batch_size: int = 32,
                       seed: int = 42) -> list[list[str]]:
    """`num_responses` sampled completions per prompt (completion text only, decoded and stripped)."""
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"  # left padding: every row's next token sits at the last position
    texts = [format_prompt(tokenizer, p) for p in prompts]
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
