"""Device and precision of the stages that run a model: one resolver from the `device`/`precision` fields of
`ComputeConfig` to a torch device, an autocast context and the Trainer's mixed-precision flags.

CPU behaviour is the default and unchanged: `auto` on a machine without CUDA is CPU + fp32, where autocast is a
no-op, so every CPU figure is what it was. Under several processes (torchrun sets LOCAL_RANK) each rank takes its
own GPU."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch

from saferlhf.errors import UserError

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Compute:
    """A resolved (device, precision): `precision` is one of DTYPES' keys, never `auto`."""

    device: torch.device
    precision: str

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]

    @property
    def on_cpu(self) -> bool:
        return self.device.type == "cpu"

    def autocast(self):
        """Mixed precision for forward passes: weights stay fp32 (the optimizer's master copy), matmuls run in
        bf16/fp16. fp32 = no context at all (bit-identical to not calling this)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def trainer_flags(self) -> dict:
        """The transformers/TRL TrainingArguments fields this choice sets (mixed precision, not pure bf16)."""
        return {"use_cpu": self.on_cpu, "bf16": self.precision == "bf16", "fp16": self.precision == "fp16"}


def resolve_compute(device: str = "auto", precision: str = "auto") -> Compute:
    """`auto` = CUDA when visible else CPU; precision `auto` = bf16 on a bf16-capable GPU, else fp32.

    >>> resolve_compute("cpu", "auto")
    Compute(device=device(type='cpu'), precision='fp32')
    """
    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise UserError("device: cuda was asked for but torch sees no CUDA device (torch.cuda.is_available() is "
                        f"False, torch {torch.__version__}); use device: auto or cpu")
    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"device must be auto, cpu or cuda, got {device!r}")
    use_cuda = device == "cuda" or (device == "auto" and cuda)
    # torchrun/accelerate set LOCAL_RANK: one GPU per process on the node
    dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if use_cuda else torch.device("cpu")
    if precision == "auto":
        precision = "bf16" if use_cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision not in DTYPES:
        raise UserError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "fp16" and not use_cuda:
        raise UserError("precision: fp16 needs a CUDA device (CPU autocast supports bf16 only); use fp32 or bf16")
    return Compute(dev, precision)


def compute_of(cfg) -> Compute:
    """The resolved compute of a stage config (a `ComputeConfig`)."""
    return resolve_compute(cfg.device, cfg.precision)


def to_device(batch: dict, device: torch.device) -> dict:
    """A tokenizer's batch (dict of (B, T) tensors) on `device`."""
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
