"""Several processes on one engine (torchrun / accelerate launch): who this process is, the collectives the
stages need, and the `--nproc N` launcher.

Every helper is a no-op in a single process (no process group is created), so the one-process path, its
figures and its tests are untouched. The backend follows the device: NCCL on CUDA, gloo on CPU."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

log = logging.getLogger(__name__)


def world_size() -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Rank 0 (or the only process): the one that writes artifacts, stats, plots and tracking runs."""
    return rank() == 0


def init(on_cpu: bool) -> bool:
    """Join the process group torchrun described in the environment (WORLD_SIZE > 1); True when distributed.
    A group already made (accelerate's, in RL) is reused."""
    import torch
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        if not on_cpu:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("gloo" if on_cpu else "nccl")
        log.info("process group: rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(), dist.get_backend())
    return True


def all_mean(values: list[float], device=None) -> list[float]:
    """The mean over ranks of each value (one all-reduce); the values themselves in a single process."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device or "cpu")  # (K,) one slot per statistic
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / dist.get_world_size()).tolist()


def shard(indices, world: int | None = None, at: int | None = None):
    """This rank's share of a batch's indices: every `world`-th item from `at` (disjoint, covering the batch)."""
    world, at = world or world_size(), rank() if at is None else at
    return indices[at::world]


def local_batch(idx):
    """This rank's items of a global batch (a list or a 1-D tensor of indices); a last batch smaller than the world
    gives each rank one item (DDP needs every rank to step). The whole batch in a single process."""
    world = world_size()
    if world == 1:
        return idx
    return shard(idx) if len(idx) >= world else idx[rank() % len(idx):][:1]


def wrap_ddp(model, compute, find_unused: bool = False):
    """`model` in DistributedDataParallel when a process group is up (gradients averaged over ranks), else itself."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=None if compute.on_cpu else [compute.device.index], find_unused_parameters=find_unused)


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def torchrun_argv(nproc: int, cli_args: list[str]) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc_per_node N -m saferlhf.cli ARGS` (the documented
    manual form is the same command with `torchrun`)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "saferlhf.cli", *cli_args]


def without_nproc(argv: list[str]) -> list[str]:
    """argv with `--nproc N` / `--nproc=N` taken out (the children must not launch again)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(nproc: int, argv: list[str]) -> int:
    """Run this CLI command again under torchrun with `nproc` processes on this node; its exit code."""
    cmd = torchrun_argv(nproc, without_nproc(argv))
    log.info("launching %d processes: %s", nproc, " ".join(cmd[1:]))
    return subprocess.run(cmd, check=False).returncode
