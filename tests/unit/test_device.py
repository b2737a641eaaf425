"""Device/precision resolution and the single-process behaviour of the distributed helpers (this machine has no
GPU: `auto` must pick CPU + fp32, and CPU autocast must be a no-op)."""

from __future__ import annotations

import pytest
import torch

from saferlhf import distributed
from saferlhf.config import AssessConfig, ComputeConfig, Config, ExportConfig, RLConfig
from saferlhf.device import compute_of, resolve_compute
from saferlhf.errors import UserError
from saferlhf.stages import STAGES


def test_auto_follows_what_torch_sees():
    c = resolve_compute("auto", "auto")
    assert c.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        assert c.precision == "fp32" and c.trainer_flags() == {"use_cpu": True, "bf16": False, "fp16": False}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_is_one_clear_line():
    with pytest.raises(UserError, match="device: cuda .* no CUDA device"):
        resolve_compute("cuda", "auto")


def test_fp16_on_cpu_is_refused_and_bf16_autocasts():
    with pytest.raises(UserError, match="fp16 needs a CUDA device"):
        resolve_compute("cpu", "fp16")
    c = resolve_compute("cpu", "bf16")
    assert c.trainer_flags()["bf16"] and not c.trainer_flags()["fp16"]
    lin = torch.nn.Linear(4, 4)
    with c.autocast():
        y = lin(torch.ones(2, 4))
    assert y.dtype == torch.bfloat16 and lin.weight.dtype == torch.float32  # fp32 master weights


def test_fp32_autocast_is_no_context():
    lin = torch.nn.Linear(4, 4)
    with resolve_compute("cpu", "fp32").autocast():
        assert lin(torch.ones(1, 4)).dtype == torch.float32


def test_stage_table_marks_exactly_the_sections_with_the_device_setting():
    for s in STAGES:
        cls = Config.model_fields[s.section].annotation
        assert s.device == issubclass(cls, ComputeConfig), s.name
        assert not s.distributed or s.device, s.name  # several processes only for stages that run a model
    assert "device" not in ExportConfig.model_fields  # export always traces a CPU fp32 copy
    assert compute_of(AssessConfig(device="cpu")).device.type == "cpu"


def test_bad_device_in_yaml_names_the_field(tmp_path):
    from saferlhf.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text("rl:\n  device: tpu\n")
    with pytest.raises(UserError, match=r"rl\.device"):
        load_config(p)


def test_single_process_helpers_are_identity(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.world_size() == 1 and distributed.is_main()
    assert distributed.all_mean([0.25, 3.0]) == [0.25, 3.0]
    idx = torch.arange(7)
    assert distributed.local_batch(idx) is idx
    assert not distributed.init(on_cpu=True)


def test_shards_are_disjoint_and_cover_the_batch():
    idx = list(range(10))
    parts = [distributed.shard(idx, world=3, at=r) for r in range(3)]
    assert sorted(sum(parts, [])) == idx and all(parts)


def test_nproc_is_taken_out_of_the_children_argv():
    argv = ["--config", "c.yaml", "policy", "train-rl", "--nproc", "2", "--max-steps=5", "--nproc=3"]
    assert distributed.without_nproc(argv) == ["--config", "c.yaml", "policy", "train-rl", "--max-steps=5"]
    cmd = distributed.torchrun_argv(2, ["reward", "train"])
    assert cmd[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "saferlhf.cli",
                       "reward", "train"]


def test_grpo_args_follow_the_device_setting_and_split_the_batch(monkeypatch):
    from saferlhf.rl.train import _grpo_args

    args = _grpo_args(RLConfig(device="cpu", batch_size=4, num_generations=2, max_steps=1), "/tmp/unused")
    assert args.use_cpu and not args.bf16 and args.per_device_train_batch_size == 8 and not args.use_vllm
    monkeypatch.setenv("WORLD_SIZE", "2")
    from saferlhf.rl.distributed import per_device_batch

    assert per_device_batch(8) == 4
    with pytest.raises(UserError, match="divide evenly over the 2 processes"):
        per_device_batch(7)


def test_use_vllm_passes_colocate_mode_through():
    from saferlhf.rl.train import _grpo_args

    args = _grpo_args(RLConfig(device="cpu", use_vllm=True, batch_size=2, num_generations=2, max_steps=1), "/tmp/u")
    assert args.use_vllm and args.vllm_mode == "colocate"
