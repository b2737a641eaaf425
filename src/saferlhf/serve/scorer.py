"""Score (prompt, response) pairs with ONNX Runtime and the `tokenizers` library: no torch, no transformers.

The pair encoding reproduces `saferlhf.reward.model.encode_pairs` (same tokenizer.json, longest-first
truncation to max_length, right padding), so ONNX scores match the PyTorch model."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from saferlhf.signals import SIGNALS, combined_reward

log = logging.getLogger(__name__)
TORCH_CHUNK = 16  # items per PyTorch call inside a coalesced batch (sorted by length, so little padding)


class Scorer(Protocol):
    """What the service needs from a backend: (N,) pairs -> (N, 4) float32 scores in SIGNALS order."""

    def scores(self, prompts: list[str], responses: list[str]) -> np.ndarray: ...


def cpu_limit() -> int:
    """CPUs this process may use: the cgroup quota (containers) if set, else the affinity mask."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    for path, parse in (("/sys/fs/cgroup/cpu.max", _cgroup_v2), ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", _cgroup_v1)):
        try:
            quota = parse(Path(path))
        except (OSError, ValueError):
            continue
        if quota:
            return max(1, min(n, math.ceil(quota)))
    return max(1, n)


def _cgroup_v2(path: Path) -> float | None:
    quota, period = path.read_text().split()[:2]  # "max 100000" or "200000 100000"
    return None if quota == "max" else int(quota) / int(period)


def _cgroup_v1(path: Path) -> float | None:
    quota = int(path.read_text())
    period = int((path.parent / "cpu.cfs_period_us").read_text())
    return None if quota <= 0 else quota / period


def load_tokenizer(path: str | Path, max_length: int):
    """`tokenizers.Tokenizer` from tokenizer.json with the training-time pair settings."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_length, strategy="longest_first", direction="right")
    pad = tok.padding or {}
    tok.enable_padding(pad_id=pad.get("pad_id", 0), pad_type_id=pad.get("pad_type_id", 0),
                       pad_token=pad.get("pad_token", "[PAD]"), direction="right")
    return tok


def encode_feed(tokenizer, prompts: list[str], responses: list[str], input_names) -> dict[str, np.ndarray]:
    """ONNX Runtime feed for (prompt, response) pairs: the inputs among `input_names`, each (B, T) int64."""
    encs = tokenizer.encode_batch(list(zip(prompts, responses)))
    feed = {"input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64)}
    return {k: v for k, v in feed.items() if k in input_names}


class OnnxScorer:
    """Batched scoring on one ONNX Runtime session.

    Items are sorted by length and run in chunks of `chunk_size`, so a coalesced batch pays for little
    padding (CPU cost grows with chunk x longest item). The default, 1, runs each item alone: on CPU that was
    as fast per item as batches of 16 (no padding at all), and it keeps INT8 scores independent of batch-mates
    (dynamic quantization computes one activation scale per run). `parallel` chunks run at once (the session is
    thread-safe and releases the GIL), each on threads // parallel intra-op threads: a one-item run on one
    thread wastes no time on thread hand-offs, so two at once on two cores beat one run on two threads."""

    def __init__(self, onnx_path: str | Path, tokenizer_path: str | Path, max_length: int,
                 threads: int | None = None, chunk_size: int = 1, parallel: int = 1):
        import onnxruntime as ort

        threads = threads or cpu_limit()
        self.parallel = max(1, min(parallel, threads))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads // self.parallel)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between runs: on a few cores the spinning threads would starve the HTTP event loop
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = load_tokenizer(tokenizer_path, max_length)
        self.chunk_size = chunk_size
        self._pool = None
        if self.parallel > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="ort-run")

    def encode(self, prompts: list[str], responses: list[str]) -> dict[str, np.ndarray]:
        return encode_feed(self.tokenizer, prompts, responses, self.input_names)

    def scores(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        n = len(prompts)
        out = np.zeros((n, len(SIGNALS)), dtype=np.float32)
        if n == 0:
            return out
        # length proxy in characters: cheap, and good enough to group similar lengths
        order = sorted(range(n), key=lambda i: len(prompts[i]) + len(responses[i]))
        chunks = [order[s:s + self.chunk_size] for s in range(0, n, self.chunk_size)]

        def run(idx: list[int]) -> None:
            feed = self.encode([prompts[i] for i in idx], [responses[i] for i in idx])
            out[idx] = self.session.run(["scores"], feed)[0]  # (len(idx), 4)

        if self._pool is None or len(chunks) == 1:
            for idx in chunks:
                run(idx)
        else:
            list(self._pool.map(run, chunks))  # list(): re-raise the first failure here
        return out


class TorchScorer:
    """The PyTorch-eager baseline (benchmark only): imports torch, so never used by the ONNX service."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        import torch

        from saferlhf.reward.model import RewardScorer

        torch.set_num_threads(threads or cpu_limit())
        self._scorer = RewardScorer(model_dir, batch_size=TORCH_CHUNK)

    def scores(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        # sorted by length, as the ONNX scorer does: a coalesced batch of 64 padded to its longest item would
        # spend most of its FLOPs on padding, which no team serving PyTorch would leave in
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(responses[i]))
        out = np.zeros((len(prompts), len(SIGNALS)), dtype=np.float32)
        if order:
            out[order] = self._scorer.scores([prompts[i] for i in order], [responses[i] for i in order])
        return out


def reward(scores: np.ndarray, weights) -> np.ndarray:
    """(N, 4) -> (N,) float32 combined reward."""
    return combined_reward(scores, weights).astype(np.float32)
