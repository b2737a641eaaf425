"""Train a tiny reward model and a tiny base policy into OUT and print the sha256 (16 hex) of each model.safetensors.

Run it with PYTHONPATH at two versions of src/ to show a change leaves the CPU path byte-identical:
    PYTHONPATH=<old>/src python scripts/tiny_weights_sha.py /tmp/old
    PYTHONPATH=src python scripts/tiny_weights_sha.py /tmp/new
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import saferlhf  # noqa: E402
from saferlhf.artifacts import Layout  # noqa: E402
from saferlhf.config import DataConfig, PolicyConfig, RewardConfig  # noqa: E402
from saferlhf.data import run_generate  # noqa: E402
from saferlhf.policy import run_init  # noqa: E402
from saferlhf.reward import run_train  # noqa: E402

layout = Layout(Path(sys.argv[1]))
run_generate(DataConfig(), layout)
r = run_train(RewardConfig(num_epochs=1, max_train_samples=48, max_length=32, batch_size=8, warmup_steps=1, mc_dropout_passes=2), layout)
run_init(PolicyConfig(n_layer=1, n_head=2, n_embd=64, n_positions=128, vocab_size=600, num_epochs=1), layout)
for f in (layout.reward_model / "model.safetensors", layout.base_policy / "model.safetensors"):
    print(saferlhf.__file__, f.parent.name, hashlib.sha256(f.read_bytes()).hexdigest()[:16])
print("pairwise", r.model_dump().get("pairwise_accuracy"))
