"""The base policy: a small causal LM that answers prompts like an unaligned assistant.

Offline default: a byte-level BPE tokenizer and a GPT-2-style model trained from scratch on the dataset's
(prompt -> response) pairs, every response type mixed (safe, unsafe, borderline, over-refusal), so it
imitates the dataset's mixture rather than a safety policy. `model_name` loads a pretrained LM instead.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from saferlhf import distributed
from saferlhf.artifacts import Layout, resolve
from saferlhf.config import PolicyConfig
from saferlhf.device import compute_of, to_device
from saferlhf.errors import UserError
from saferlhf.io import write_json
from saferlhf.results import PolicyResult

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
PROMPT_TEMPLATE = "User: {prompt}\nAssistant:"


def format_prompt(prompt: str) -> str:
    """The policy's one input format, shared by LM training, generation, RL and evaluation."""
    return PROMPT_TEMPLATE.format(prompt=prompt.strip())


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE (GPT-2 style) trained on `texts`; left padding so batched generation works."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=EOS,
                                   unk_token=EOS, padding_side="left")


def _from_scratch(cfg: PolicyConfig, texts: list[str]):
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=cfg.n_positions, n_embd=cfg.n_embd,
                        n_layer=cfg.n_layer, n_head=cfg.n_head, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return GPT2LMHeadModel(config), tokenizer


def _pretrained(name: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load causal LM {name!r}: {str(e).splitlines()[0]}") from None
    if tokenizer.pad_token is None:  # GPT-2 family has no pad token; eos is the usual stand-in
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def encode_examples(tokenizer, prompts: list[str], responses: list[str], max_length: int) -> list[tuple[list, list]]:
    """(input_ids, labels) per pair; prompt tokens get label -100 so the loss is on the response only."""
    out = []
    for p, r in zip(prompts, responses):
        head = tokenizer(format_prompt(p), add_special_tokens=False)["input_ids"]
        tail = tokenizer(" " + r.strip() + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        ids = (head + tail)[:max_length]
        labels = ([-100] * len(head) + tail)[:max_length]
        out.append((ids, labels))
    return out


def _collate(batch: list[tuple[list, list]], pad_id: int) -> dict[str, torch.Tensor]:
    # right padding for teacher forcing; padded positions are masked and ignored by the loss
    n = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, (x, y) in enumerate(batch):
        ids[i, :len(x)], labels[i, :len(y)], mask[i, :len(x)] = torch.tensor(x), torch.tensor(y), 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}  # each (B, T)


def train_lm(model, tokenizer, examples, cfg: PolicyConfig) -> list[float]:
    """Teacher-forced next-token training with AdamW and cosine decay; returns mean loss per epoch (over ranks
    under torchrun, where each rank takes its share of every global batch and DDP averages the gradients)."""
    compute = compute_of(cfg)
    model.to(compute.device)  # fp32 master weights; bf16/fp16 only inside autocast
    net = distributed.wrap_ddp(model, compute)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    steps = cfg.num_epochs * math.ceil(len(examples) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    model.train()
    history = []
    bar = tqdm(total=steps, desc="policy LM", disable=None)
    for epoch in range(cfg.num_epochs):
        order = torch.randperm(len(examples), generator=gen).tolist()
        losses = []
        for i in range(0, len(order), cfg.batch_size):
            batch = _collate([examples[j] for j in distributed.local_batch(order[i:i + cfg.batch_size])],
                             tokenizer.pad_token_id)
            with compute.autocast():
                loss = net(**to_device(batch, compute.device)).loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.update(1)
        history.append(distributed.all_mean([sum(losses) / len(losses)], compute.device)[0])
        log.info("policy LM epoch %d/%d: loss %.4f", epoch + 1, cfg.num_epochs, history[-1])
    bar.close()
    return history


def use_padding_aware_positions(model) -> None:
    """Derive position ids from the attention mask whenever a caller passes a mask but no positions.

    Why: GPT-2 adds absolute position embeddings and, given no `position_ids`, numbers tokens 0..T-1. `generate()`
    derives positions from the mask (a left-padded prompt starts at position 0), but TRL's log-prob pass calls
    `model(input_ids, attention_mask)` on the same left-padded rows without positions, so a prompt padded by k
    tokens was scored k positions off from how it was sampled: the policy gradient and the KL to the reference
    were computed under another distribution than the samples came from (KL spikes of 1-1.6 nats/token)."""
    import inspect

    if "position_ids" not in inspect.signature(model.forward).parameters:
        return

    def hook(module, args, kwargs):
        ids, mask = kwargs.get("input_ids", args[0] if args else None), kwargs.get("attention_mask")
        if (kwargs.get("position_ids") is None and kwargs.get("past_key_values") is None and ids is not None
                and mask is not None and mask.shape == ids.shape):
            kwargs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T), as generate() does
        return args, kwargs

    model.register_forward_pre_hook(hook, with_kwargs=True)


def save_policy(model, tokenizer, out_dir: str | Path) -> Path:
    """safetensors weights + config + tokenizer (padding_side=left) in one folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(out)
    return out


def run_init(cfg: PolicyConfig, layout: Layout) -> PolicyResult:
    """Build the base policy (from scratch or pretrained), fine-tune it on the train split's pairs, save it."""
    from saferlhf.data.loader import load_labels

    torch.manual_seed(cfg.seed)
    distributed.init(compute_of(cfg).on_cpu)
    data_path = resolve(cfg.data_path, layout.labels)
    df = load_labels(data_path)
    if "split" in df.columns:
        df = df[df["split"].isin(cfg.train_splits)]  # test prompts stay unseen: evaluation uses them
        if df.empty:
            raise UserError(f"{data_path}: no rows in splits {list(cfg.train_splits)}")
    prompts, responses = df["prompt"].tolist(), df["response"].tolist()
    t0 = time.time()
    if cfg.model_name:
        model, tokenizer = _pretrained(cfg.model_name)
    else:
        model, tokenizer = _from_scratch(cfg, [format_prompt(p) + " " + r for p, r in zip(prompts, responses)])
    max_len = min(cfg.n_positions, getattr(model.config, "n_positions", cfg.n_positions))
    examples = encode_examples(tokenizer, prompts, responses, max_len)
    history = train_lm(model, tokenizer, examples, cfg)
    out = resolve(cfg.output_dir, layout.base_policy)
    if not distributed.is_main():  # rank 0 writes the one copy; the others read its summary back
        distributed.barrier()
        return PolicyResult.load(out / "policy_summary.json")
    save_policy(model.eval(), tokenizer, out)
    result = PolicyResult(output_dir=str(out), model_name=cfg.model_name or "gpt2-from-scratch",
                          num_parameters=sum(p.numel() for p in model.parameters()), num_examples=len(examples),
                          final_loss=history[-1], loss_history=history, seconds=round(time.time() - t0, 1))
    write_json(out / "policy_summary.json", result.model_dump(mode="json"))
    distributed.barrier()
    return result
