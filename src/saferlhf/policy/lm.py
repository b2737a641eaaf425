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

from saferlhf import distributed
from saferlhf.artifacts import Layout, resolve
from saferlhf.config import PolicyConfig
from saferlhf.device import compute_of, to_device
from saferlhf.errors import UserError
from saferlhf.io import write_json
from saferlhf.policy.chat import PLAIN_TEMPLATE, encode_pair
from saferlhf.policy.pretrained import context_length, converted
from saferlhf.progress import progress
from saferlhf.policy.store import save_policy
from saferlhf.results import PolicyResult

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"


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


def encode_examples(tokenizer, prompts: list[str], responses: list[str], max_length: int) -> list[tuple[list, list]]:
    """(input_ids, labels) per pair; prompt tokens get label -100 so the loss is on the response only."""
    out = []
    for p, r in zip(prompts, responses):
        head, tail = encode_pair(tokenizer, p, r)
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


def train_lm(model, tokenizer, examples, cfg: PolicyConfig, num_epochs: int, learning_rate: float) -> list[float]:
    """Teacher-forced next-token training with AdamW and cosine decay; returns mean loss per epoch (over ranks
    under torchrun, where each rank takes its share of every global batch and DDP averages the gradients)."""
    compute = compute_of(cfg)
    model.to(compute.device)  # fp32 master weights; bf16/fp16 only inside autocast
    net = distributed.wrap_ddp(model, compute)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    steps = num_epochs * math.ceil(len(examples) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    model.train()
    history = []
    bar = progress(steps, "policy LM")
    for epoch in range(num_epochs):
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
        log.info("policy LM epoch %d/%d: loss %.4f", epoch + 1, num_epochs, history[-1])
    bar.close()
    return history


def safe_pairs(df) -> tuple[list[str], list[str]]:
    """(prompts, responses) a pretrained policy is fine-tuned on: refusals where the category should be refused,
    safe non-refusals where it should be answered (the warm start that gives GRPO groups some refusals)."""
    from saferlhf.refusal import expected_behaviour, is_refusal

    keep = []
    for row in df.itertuples():
        expected, refused = expected_behaviour(getattr(row, "category", None)), is_refusal(row.response)
        keep.append((expected == "refuse" and refused)
                    or (expected == "answer" and not refused and row.safety_score >= 0.7))
    sel = df[keep]
    return sel["prompt"].tolist(), sel["response"].tolist()


def imitable(df):
    """The rows a policy may learn from: off-topic rows and empty acknowledgements teach the reward model what a
    bad reply is (saferlhf.data.mismatch, saferlhf.data.acknowledge); a policy must not imitate them."""
    from saferlhf.data.acknowledge import ACKNOWLEDGEMENT
    from saferlhf.data.templates import OFF_TOPIC

    if "response_type" not in df.columns:
        return df
    return df[~df["response_type"].isin([OFF_TOPIC, ACKNOWLEDGEMENT])]


def run_init(cfg: PolicyConfig, layout: Layout) -> PolicyResult:
    """Build the base policy: a GPT-2 trained from scratch on the train split's pairs, or a pretrained model
    (converted once to safetensors) optionally fine-tuned on the split's safe responses; save it."""
    from saferlhf.data.loader import load_labels

    torch.manual_seed(cfg.seed)
    distributed.init(compute_of(cfg).on_cpu)
    data_path = resolve(cfg.data_path, layout.labels)
    df = load_labels(data_path)
    df = imitable(df)
    if "split" in df.columns:
        df = df[df["split"].isin(cfg.train_splits)]  # test prompts stay unseen: evaluation uses them
        if df.empty:
            raise UserError(f"{data_path}: no rows in splits {list(cfg.train_splits)}")
    t0 = time.time()
    if cfg.model_name:
        model, tokenizer = converted(cfg.model_name, layout.pretrained_cache)
        tokenizer.saferlhf_system_prompt = cfg.system_prompt
        prompts, responses = safe_pairs(df)
        epochs, lr = cfg.sft_epochs, cfg.sft_learning_rate
    else:
        prompts, responses = df["prompt"].tolist(), df["response"].tolist()
        texts = [PLAIN_TEMPLATE.format(prompt=p.strip()) + " " + r for p, r in zip(prompts, responses)]
        model, tokenizer = _from_scratch(cfg, texts)
        epochs, lr = cfg.num_epochs, cfg.learning_rate
    examples = encode_examples(tokenizer, prompts, responses, context_length(model.config, cfg.n_positions))
    history = train_lm(model, tokenizer, examples, cfg, epochs, lr) if epochs else []
    out = resolve(cfg.output_dir, layout.base_policy)
    if not distributed.is_main():  # rank 0 writes the one copy; the others read its summary back
        distributed.barrier()
        return PolicyResult.load(out / "policy_summary.json")
    save_policy(model.eval(), tokenizer, out)
    result = PolicyResult(output_dir=str(out), model_name=cfg.model_name or "gpt2-from-scratch",
                          num_parameters=sum(p.numel() for p in model.parameters()),
                          num_examples=len(examples) if epochs else 0, final_loss=history[-1] if history else None,
                          loss_history=history, seconds=round(time.time() - t0, 1))
    write_json(out / "policy_summary.json", result.model_dump(mode="json"))
    distributed.barrier()
    return result
