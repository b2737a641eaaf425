"""Sampling from a saved policy: batched, left-padded, KV-cached generation (the seed's generate_responses)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tqdm.auto import tqdm

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import GenerateConfig
from saferlhf.device import compute_of, to_device
from saferlhf.errors import UserError
from saferlhf.io import write_json
from saferlhf.policy.lm import format_prompt

log = logging.getLogger(__name__)


def load_policy(path: str | Path, device=None):
    """(model in eval mode on `device` (default CPU), tokenizer with padding_side='left') from a saved policy folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"{path}: not a saved policy (no config.json); run `saferlhf policy init` first")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot load policy ({str(e).splitlines()[0]})") from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return (model.to(device) if device is not None else model).eval(), tokenizer


@torch.no_grad()
def generate_responses(model, tokenizer, prompts: list[str], num_responses: int = 1, max_new_tokens: int = 48,
                       temperature: float = 0.7, top_k: int = 50, top_p: float = 0.95, batch_size: int = 32,
                       seed: int = 42) -> list[list[str]]:
    """`num_responses` sampled completions per prompt (completion text only, decoded and stripped)."""
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"  # left padding: every row's next token sits at the last position
    texts = [format_prompt(p) for p in prompts]
    out: list[list[str]] = []
    for i in tqdm(range(0, len(texts), batch_size), desc="generate", disable=None):
        enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = to_device(enc, model.device)
        seqs = model.generate(**enc, do_sample=True, temperature=temperature, top_k=top_k or None, top_p=top_p,
                              max_new_tokens=max_new_tokens, num_return_sequences=num_responses, use_cache=True,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new = seqs[:, enc["input_ids"].shape[1]:]  # (B*num_responses, <=max_new_tokens)
        decoded = [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
        out.extend(decoded[j:j + num_responses] for j in range(0, len(decoded), num_responses))
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
