"""Policy stages on tiny models: base policy files and sampling, `policy generate` CLI, and a real GRPO run
(2 steps) that changes parameters and records the documented per-step statistics."""

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from saferlhf.io import read_json
from saferlhf.policy import format_prompt, generate_responses, load_policy
from saferlhf.rl import STAT_KEYS

pytestmark = pytest.mark.slow


def test_base_policy_folder_is_safetensors_plus_left_padded_tokenizer(tiny_base_policy):
    assert (tiny_base_policy / "model.safetensors").is_file()
    assert not list(tiny_base_policy.glob("*.bin")) and not list(tiny_base_policy.glob("*.pt"))
    model, tok = load_policy(tiny_base_policy)
    assert tok.padding_side == "left" and tok.pad_token is not None
    assert not model.training


def test_generate_returns_only_completions_per_prompt(tiny_base_policy):
    model, tok = load_policy(tiny_base_policy)
    prompts = ["How do I bake bread?", "A much longer prompt about staying safe while hiking in the mountains?"]
    out = generate_responses(model, tok, prompts, num_responses=3, max_new_tokens=6, batch_size=2)
    assert [len(r) for r in out] == [3, 3]
    assert all(isinstance(t, str) and t == t.strip() for r in out for t in r)
    assert not any(t.startswith(format_prompt(tok, p)) for p, r in zip(prompts, out) for t in r)
    again = generate_responses(model, tok, prompts, num_responses=3, max_new_tokens=6, batch_size=2)
    assert again == out  # same seed, same samples


def test_generate_cli_with_seed_flags(tiny_layout, tiny_base_policy, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("How do I bake bread?\nHow do I pick a lock?\n")
    out = tmp_path / "responses.json"
    cmd = [sys.executable, "-m", "saferlhf.cli", "--output-root", str(tiny_layout.root), "policy", "generate",
           "--prompts-path", str(prompts), "--output-path", str(out), "--model-path", str(tiny_base_policy),
           "--num-responses", "2", "--temperature", "0.9", "--top-k", "20", "--top-p", "0.9", "--max-new-tokens", "5"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = json.loads(out.read_text())
    assert [r["prompt"] for r in rows] == ["How do I bake bread?", "How do I pick a lock?"]
    assert all(len(r["responses"]) == 2 for r in rows)


def test_generate_cli_bad_model_path_is_one_line_error(tmp_path):
    cmd = [sys.executable, "-m", "saferlhf.cli", "--output-root", str(tmp_path), "policy", "generate",
           "--model-path", str(tmp_path / "nope"), "--prompts-path", str(tmp_path / "missing.txt")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1


def test_grpo_steps_change_parameters(tiny_base_policy, tiny_rl_policy):
    base = load_file(str(tiny_base_policy / "model.safetensors"))
    rl = load_file(str(tiny_rl_policy / "model.safetensors"))
    assert base.keys() == rl.keys()
    changed = [k for k in base if not torch.equal(base[k], rl[k])]
    assert len(changed) > len(base) // 2


def test_training_stats_have_documented_keys_and_controllers_moved(tiny_rl_policy):
    stats = read_json(tiny_rl_policy / "training_stats.json")
    assert [r["step"] for r in stats] == [1, 2]
    for row in stats:
        assert tuple(row) == STAT_KEYS
        assert all(row[k] is not None for k in ("reward", "safety", "toxicity", "kl", "beta", "lambda", "cost"))
        assert 0 <= row["safety"] <= 1 and 0 <= row["cost"] <= 1
    # step 1 starts at the configured values; the controllers then move them (KL != target, cost != threshold)
    assert stats[0]["beta"] == pytest.approx(0.1) and stats[0]["lambda"] == pytest.approx(1.0)
    assert stats[1]["beta"] != pytest.approx(0.1) and stats[1]["lambda"] != pytest.approx(1.0)
    assert (tiny_rl_policy / "plots" / "training_curves.png").stat().st_size > 1000
    model, tok = load_policy(tiny_rl_policy)
    assert tok.padding_side == "left"


@pytest.mark.parametrize("peft", [False, True], ids=["plain", "peft"])
def test_padding_aware_positions_make_left_padding_invisible(tiny_base_policy, peft):
    """TRL scores left-padded rows without position ids; with the hook a padded prompt gets the same next-token
    distribution as the prompt alone (without it GPT-2 would shift its positions by the padding). Also under a
    PEFT wrapper, which calls the wrapped model's forward directly (a hook on the top-level model never fired)."""
    import torch

    from saferlhf.policy import format_prompt, load_policy, use_padding_aware_positions

    model, tok = load_policy(tiny_base_policy)
    if peft:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules=["c_attn"], lora_dropout=0.0)).eval()
    short = format_prompt(tok, "Hi")
    long = format_prompt(tok, "Tell me a long story about a lighthouse keeper and the sea")
    alone = tok([short], return_tensors="pt")
    batch = tok([short, long], return_tensors="pt", padding=True)  # the tokenizer pads on the left
    assert batch["attention_mask"][0, 0] == 0

    def last_logits(enc):
        with torch.no_grad():
            return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[0, -1]

    assert not torch.allclose(last_logits(alone), last_logits(batch), atol=1e-4)  # positions shifted by padding
    use_padding_aware_positions(model)
    torch.testing.assert_close(last_logits(batch), last_logits(alone), atol=1e-4, rtol=1e-4)
