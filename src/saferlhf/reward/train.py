"""Reward-model training: MSE per head (plus an optional within-prompt ranking loss), AdamW, linear warm-up then
decay, per-epoch validation."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import get_linear_schedule_with_warmup

from saferlhf import distributed
from saferlhf.config import RewardConfig
from saferlhf.data.loader import LABEL_COLUMNS
from saferlhf.progress import progress
from saferlhf.device import Compute, compute_of, to_device
from saferlhf.reward.model import RewardModel, encode_pairs, load_tokenizer
from saferlhf.signals import SIGNS

log = logging.getLogger(__name__)


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_frame(df: pd.DataFrame, split: str) -> pd.DataFrame:
    """Rows of one split; a file without a `split` column is all training data."""
    if "split" not in df.columns:
        return df if split == "train" else df.iloc[0:0]
    return df[df["split"] == split].reset_index(drop=True)


@torch.no_grad()
def predict(model: RewardModel, tokenizer, df: pd.DataFrame, batch_size: int, mc_dropout: bool = False,
            compute: Compute | None = None) -> np.ndarray:
    """(N, 4) scores for the rows of `df` (on the model's device; under `compute`'s autocast when given)."""
    model.train(mc_dropout)
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(df), batch_size):
        chunk = df.iloc[i:i + batch_size]
        enc = encode_pairs(tokenizer, chunk["prompt"].tolist(), chunk["response"].tolist(), model.cfg.max_length)
        with compute.autocast() if compute else contextlib.nullcontext():
            out.append(model(**to_device(enc, device)).float().cpu().numpy())
    model.eval()
    return np.concatenate(out) if out else np.zeros((0, 4), dtype=np.float32)


def grouped_order(groups: np.ndarray, gen: torch.Generator) -> torch.Tensor:
    """Row order with the prompts shuffled and each prompt's rows adjacent (groups: (N,) prompt codes)."""
    perm = torch.randperm(int(groups.max()) + 1, generator=gen).numpy()  # group -> its place
    return torch.from_numpy(np.argsort(perm[groups], kind="stable"))


def pairwise_loss(pred_r: torch.Tensor, label_r: torch.Tensor, groups: torch.Tensor, margin: float) -> torch.Tensor:
    """Smooth hinge margin * softplus(-(r_i - r_j) / margin) over the batch's pairs (i, j) of the same prompt whose
    labelled rewards differ by more than `margin` (i the better); 0 when the batch holds none. All (B,)."""
    mask = (groups[:, None] == groups[None, :]) & (label_r[:, None] - label_r[None, :] > margin)  # (B, B)
    if not mask.any():
        return pred_r.sum() * 0.0
    gap = pred_r[:, None] - pred_r[None, :]
    return (margin * torch.nn.functional.softplus(-gap / margin))[mask].mean()


def train_reward_model(cfg: RewardConfig, df: pd.DataFrame, out_dir: Path) -> tuple[RewardModel, object, dict]:
    """Train on the `train` split, validate on `validation`; returns (model, tokenizer, history).

    Under torchrun every rank draws the same shuffled order and takes its share of each global batch of
    `batch_size` rows (DDP averages the gradients), so the steps, schedule and global batch are the 1-process ones."""
    set_seed(cfg.seed)
    compute = compute_of(cfg)
    distributed.init(compute.on_cpu)
    train_df = split_frame(df, "train")
    if cfg.max_train_samples:
        train_df = train_df.sample(min(cfg.max_train_samples, len(train_df)), random_state=cfg.seed)
    val_df = split_frame(df, "validation")
    if train_df.empty:
        raise ValueError("no training rows (split == 'train')")
    model = RewardModel.from_backbone(cfg.model_name, cfg.dropout, cfg.max_length, cfg.weights)
    tokenizer = load_tokenizer(cfg.model_name)
    model.to(compute.device)  # fp32 weights: the optimizer's master copy; bf16/fp16 only inside autocast
    # The encoder's pooler is built but unused (mean pooling), so DDP must tolerate parameters without grads.
    net = distributed.wrap_ddp(model, compute, find_unused=True)
    # The encoder is pretrained (small lr); the heads start from scratch (larger lr).
    opt = torch.optim.AdamW([
        {"params": model.encoder.parameters(), "lr": cfg.learning_rate},
        {"params": model.heads.parameters(), "lr": cfg.head_learning_rate},
    ], weight_decay=cfg.weight_decay)
    steps_per_epoch = (len(train_df) + cfg.batch_size - 1) // cfg.batch_size
    total = steps_per_epoch * cfg.num_epochs
    sched = get_linear_schedule_with_warmup(opt, min(cfg.warmup_steps, total // 2), total)
    targets_all = torch.tensor(train_df[LABEL_COLUMNS].to_numpy(), dtype=torch.float32,
                               device=compute.device)  # (N, 4)
    signs = torch.tensor(SIGNS, dtype=torch.float32, device=compute.device) * torch.tensor(
        cfg.weights, dtype=torch.float32, device=compute.device)  # (4,): R = scores @ signs
    groups_all = pd.factorize(train_df["prompt"])[0]  # (N,) one code per prompt
    history: dict[str, list] = {"step_loss": [], "epoch": [], "train_loss": [], "val_loss": [], "val_mae": []}
    gen = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    for epoch in range(cfg.num_epochs):
        model.train()
        order = grouped_order(groups_all, gen) if cfg.pairwise_weight else torch.randperm(len(train_df), generator=gen)
        losses = []
        starts = range(0, len(order), cfg.batch_size)
        bar = progress(len(starts), f"reward epoch {epoch + 1}/{cfg.num_epochs}")
        for i in starts:
            idx = distributed.local_batch(order[i:i + cfg.batch_size])
            rows = train_df.iloc[idx.numpy()]
            enc = encode_pairs(tokenizer, rows["prompt"].tolist(), rows["response"].tolist(), cfg.max_length)
            with compute.autocast():
                pred = net(**to_device(enc, compute.device)).float()  # (B, 4)
            target = targets_all[idx.to(compute.device)]
            # MSE per head, summed over the four heads
            loss = ((pred - target) ** 2).mean(0).sum()
            if cfg.pairwise_weight:
                groups = torch.from_numpy(groups_all[idx.numpy()]).to(compute.device)
                loss = loss + cfg.pairwise_weight * pairwise_loss(pred @ signs, target @ signs, groups,
                                                                  cfg.pairwise_margin)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            history["step_loss"].append(loss.item())
            bar.set_postfix(loss=round(loss.item(), 4))
            bar.update(1)
        bar.close()
        entry = {"epoch": epoch + 1, "train_loss": distributed.all_mean([float(np.mean(losses))], compute.device)[0]}
        if len(val_df):  # every rank holds the same weights: the same validation figures
            vp = predict(model, tokenizer, val_df, cfg.eval_batch_size, compute=compute)
            vt = val_df[LABEL_COLUMNS].to_numpy()
            entry["val_loss"] = float(((vp - vt) ** 2).mean(0).sum())
            entry["val_mae"] = float(np.abs(vp - vt).mean())
        for k in ("epoch", "train_loss", "val_loss", "val_mae"):
            history[k].append(entry.get(k))
        log.info("reward epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in entry.items()})
    history["train_seconds"] = time.time() - t0
    history["train_rows"] = len(train_df)
    model.eval()
    return model, tokenizer, history
