"""RL under several processes (torchrun / accelerate launch, DDP or TRL's DeepSpeed/FSDP configs): the pieces
that keep the ranks in agreement and write one set of outputs.

- beta: TRL's logged `kl` is already the global masked mean over ranks (`accelerator.reduce` in
  GRPOTrainer._compute_loss), so every rank's callback sees the same KL and moves beta identically.
- lambda: each rank's reward function sees only its own completions; `global_mean_cost` all-reduces the recent
  mean cost before the Lagrange step, so every rank holds the same lambda (and scores the next batch with it).
- saving: the trainer's own `save_model` (collective under ZeRO-3, written by rank 0 only)."""

from __future__ import annotations

import logging
from pathlib import Path

from saferlhf import distributed
from saferlhf.errors import UserError

log = logging.getLogger(__name__)

# transformers' Trainer.save_model also pickles its TrainingArguments; the project keeps no pickles
TRAINING_ARGS_FILE = "training_args.bin"


def global_mean_cost(local_mean: float, device=None) -> float:
    """The mean cost over ranks (every rank holds the same number of completions per step, so the mean of the
    rank means is the mean over all completions); the local value in a single process."""
    return distributed.all_mean([local_mean], device)[0]


def per_device_batch(completions: int) -> int:
    """Completions per process of a step of `completions` (global batch), sharded over the ranks, not duplicated."""
    world = distributed.world_size()
    if completions % world:
        raise UserError(f"rl.batch_size * rl.num_generations ({completions}) must divide evenly over the "
                        f"{world} processes")
    return completions // world


def log_rank_state(step: int, beta: float, lam: float) -> None:
    """One line per step and rank under several processes (the acceptance test compares them across ranks)."""
    if distributed.world_size() > 1:
        log.info("rl step %d rank %d/%d: beta=%r lambda=%r", step, distributed.rank(), distributed.world_size(),
                 beta, lam)


def save_trained(trainer, tokenizer, out: Path) -> Path:
    """Save the trained policy with the trainer's own `save_model` (gathers ZeRO-3 shards; rank 0 writes),
    then on rank 0 drop the pickled TrainingArguments and save the tokenizer and system prompt (as
    `saferlhf.policy.save_policy` does). A LoRA policy: its adapter plus the merged model, from rank 0."""
    from saferlhf.policy.store import save_rl_policy, save_tokenizer

    model = trainer.model.eval()
    if hasattr(model, "merge_and_unload"):  # LoRA: the adapter (out/adapter) and the merged model (out), rank 0
        if distributed.is_main():
            save_rl_policy(model, tokenizer, out)
    else:
        trainer.save_model(str(out))
        if distributed.is_main():
            (out / TRAINING_ARGS_FILE).unlink(missing_ok=True)
            save_tokenizer(tokenizer, out)
    distributed.barrier()
    return out
