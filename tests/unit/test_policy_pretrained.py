"""Resolving `policy.model_name` (packaged keyword, .gguf file, local folder, hub id) and model-config facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferlhf.errors import UserError
from saferlhf.policy.pretrained import SMOLLM2, cache_dir_for, context_length, packaged_file, source_of


def test_packaged_smollm2_resolves_to_the_wheels_gguf_without_importing_it():
    path = packaged_file(SMOLLM2)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50e6
    assert source_of("SmolLM2-135M-Instruct") == (str(path.parent), path.name)


def test_gguf_file_and_folder_resolve(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert source_of(str(gguf)) == (str(tmp_path), "m.gguf")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    assert source_of(str(tmp_path / "model")) == (str(tmp_path / "model"), None)
    assert source_of("Qwen/Qwen2.5-0.5B-Instruct") == ("Qwen/Qwen2.5-0.5B-Instruct", None)  # hub id: local cache


@pytest.mark.parametrize("name, message", [("/nowhere/m.gguf", "GGUF file"), ("./no-such-model", "not found")])
def test_missing_paths_are_one_line_errors(name, message):
    with pytest.raises(UserError, match=message):
        source_of(name)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(UserError, match="without config.json"):
        source_of(str(tmp_path))


def test_cache_folder_is_stable_and_distinct():
    root = Path("cache")
    assert cache_dir_for("a/b", root) == cache_dir_for("a/b", root) != cache_dir_for("a-b", root)
    assert cache_dir_for("/x/y/SmolLM2.Q4_1.gguf", root).name.startswith("SmolLM2.Q4_1.gguf-")


def test_context_length_reads_llama_and_gpt2_configs():
    from transformers import GPT2Config, LlamaConfig

    assert context_length(LlamaConfig(max_position_embeddings=8192), 256) == 8192
    assert context_length(GPT2Config(n_positions=128), 256) == 128


def test_lora_target_modules_missing_from_the_model_is_a_user_error():
    from transformers import GPT2Config, GPT2LMHeadModel

    from saferlhf.config import LoraSettings, RLConfig
    from saferlhf.rl.train import _checked_lora

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    with pytest.raises(UserError, match="q_proj"):
        _checked_lora(RLConfig(peft=LoraSettings()), model)
    assert _checked_lora(RLConfig(peft=LoraSettings(target_modules=("c_attn",))), model).r == 16
    assert _checked_lora(RLConfig(), model) is None
