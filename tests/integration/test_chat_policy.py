"""Chat-template policies of real architectures (tiny random LlamaForCausalLM / Qwen2ForCausalLM built here):
prompt format, BOS, stopping at any end token, and the stages policy init -> train-rl (full and LoRA) ->
evaluate -> probe on them."""

from __future__ import annotations

import shutil

import pytest
import torch

from saferlhf.artifacts import Layout
from saferlhf.io import read_json
from saferlhf.policy.chat import PLAIN_TEMPLATE, encode_pair, format_prompt
from tests.tiny_chat_models import ARCHS, BOS, IM_END, IM_START, build_model, build_tokenizer, save_tiny_chat_model

TEXTS = ["How do I bake bread at home? Mix flour, water, salt and yeast, then knead and bake.",
         "I can't help with that request, but here is some safety information instead."] * 20


@pytest.fixture(scope="module", params=ARCHS)
def chat_model(request):
    tok = build_tokenizer(TEXTS, request.param)
    return request.param, build_model(tok, request.param).eval(), tok


def test_prompt_uses_the_chat_template_with_exactly_one_bos(chat_model):
    arch, _, tok = chat_model
    text = format_prompt(tok, "How do I bake bread?", system="Be safe.")
    assert text.endswith(f"{IM_START}assistant\n")
    assert f"{IM_START}system\nBe safe.{IM_END}" in text and f"{IM_START}user\nHow do I bake bread?{IM_END}" in text
    ids = tok(text)["input_ids"]  # as TRL's GRPOTrainer tokenizes a text prompt: default special tokens
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1, (arch, ids[:4])
    assert tok.convert_tokens_to_ids(IM_START) in ids


def test_response_ends_with_the_templates_end_of_turn(chat_model):
    _, _, tok = chat_model
    head, tail = encode_pair(tok, "Hi", "Hello there.")
    assert tail[-1] == tok.convert_tokens_to_ids(IM_END)  # the template's end of turn, not the tokenizer's </s>
    assert tok.decode(tail, skip_special_tokens=True) == "Hello there."
    assert encode_pair(tok, "Hi", "", end=False)[1] == []


def test_plain_format_for_a_tokenizer_without_template():
    """The from-scratch GPT-2 path (make demo) keeps its format and its ids (no special token added)."""
    from saferlhf.policy.lm import train_tokenizer

    tok = train_tokenizer(["User: hello there\nAssistant: hi, how can I help you today?"] * 20, 300)
    text = format_prompt(tok, "  hello there ")
    assert text == PLAIN_TEMPLATE.format(prompt="hello there")
    assert tok(text)["input_ids"] == tok(text, add_special_tokens=False)["input_ids"]
    assert encode_pair(tok, "hello there", "hi")[1] == tok(" hi" + tok.eos_token, add_special_tokens=False)["input_ids"]


def test_generation_stops_at_the_second_end_token(chat_model):
    """Greedy decoding (top_k=1); the token the model emits 4th is relabelled as <|im_end|> by swapping the two
    LM-head rows (the prompt and the earlier tokens are unchanged, so the model takes the same path up to there),
    so a policy that stopped only at the tokenizer's eos (</s>, the first end token) would run past it."""
    from saferlhf.policy import generate_responses

    arch, model, tok = chat_model
    model = build_model(tok, arch, seed=1).eval()
    enc = tok([format_prompt(tok, "How do I bake bread?")], return_tensors="pt")
    ends = model.generation_config.eos_token_id
    with torch.no_grad():
        ref = model.generate(**enc, do_sample=False, max_new_tokens=12, eos_token_id=ends[0],
                             pad_token_id=tok.pad_token_id)[0, enc["input_ids"].shape[1]:].tolist()
    k = next(i for i in range(3, len(ref)) if ref[i] not in ref[:i] and ref[i] not in tok.all_special_ids)
    im_end = tok.convert_tokens_to_ids(IM_END)
    with torch.no_grad():
        w = model.get_output_embeddings().weight  # (V, H); untied from the input embeddings
        w[[ref[k], im_end]] = w[[im_end, ref[k]]]
    out = generate_responses(model, tok, ["How do I bake bread?"], max_new_tokens=12, top_k=1)[0][0]
    assert out == tok.decode(ref[:k], skip_special_tokens=True).strip()
    assert out != tok.decode(ref, skip_special_tokens=True).strip()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHS)
def test_chat_policy_through_init_rl_evaluate_probe(arch, tiny_layout, tiny_reward_model, tmp_path, monkeypatch):
    from saferlhf.config import EvaluateConfig, LoraSettings, PolicyConfig, ProbeConfig, RLConfig
    from saferlhf.evaluate import run_evaluate
    from saferlhf.policy import load_policy, run_init
    from saferlhf.probes import run_probe
    from saferlhf.rl import run_train_rl
    from saferlhf.rl.train import _prompt_dataset

    layout = Layout(tmp_path / "outputs")
    shutil.copytree(tiny_layout.data_dir, layout.data_dir)
    texts = [p["prompt"] for p in read_json(layout.prompts)]
    src = save_tiny_chat_model(tmp_path / f"tiny-{arch}", texts + TEXTS, arch)

    init = run_init(PolicyConfig(model_name=str(src), system_prompt="Be safe.", sft_epochs=1,
                                 sft_learning_rate=1e-3, batch_size=16), layout)
    assert init.num_examples > 0 and init.final_loss > 0
    model, tok = load_policy(layout.base_policy)
    assert tok.saferlhf_system_prompt == "Be safe."
    assert model.generation_config.eos_token_id == [tok.eos_token_id, tok.convert_tokens_to_ids(IM_END)]

    rl_kw = dict(max_steps=1, batch_size=2, num_generations=2, max_new_tokens=8, learning_rate=1e-2,
                 reward_model_path=str(tiny_reward_model))
    full = run_train_rl(RLConfig(**rl_kw, output_dir=str(layout.models_dir / "rl_full")), layout)
    assert full.steps == 1
    lora_cfg = RLConfig(**rl_kw, peft=LoraSettings(r=4, alpha=8, dropout=0.0))
    prompts = _prompt_dataset(layout, lora_cfg, tok)["prompt"][:4]  # what GRPOTrainer tokenizes
    for ids in tok(prompts)["input_ids"]:
        assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
        assert "Be safe." in tok.decode(ids) and tok.convert_tokens_to_ids(IM_START) in ids
    run_train_rl(lora_cfg, layout)
    assert (layout.rl_policy / "adapter" / "adapter_config.json").is_file()
    _assert_adapter_equals_merged(layout)
    _assert_registered_policy_answers_like_the_folder(layout, tmp_path, monkeypatch)

    ev = run_evaluate(EvaluateConfig(max_prompts=4, num_adversarial=2, num_responses=1, max_new_tokens=8,
                                     mc_dropout_passes=2, reward_model_path=str(tiny_reward_model)), layout)
    assert ev.kl_divergence.tokens > 0
    pr = run_probe(ProbeConfig(max_prompts_per_probe=2, max_new_tokens=8, reward_model_path=str(tiny_reward_model),
                               probes=("reward_hacking", "refusal_appropriateness")), layout)
    assert set(pr.view()["risk_scores"]["rl_model"]) == {"reward_hacking", "refusal_appropriateness"}


def _assert_registered_policy_answers_like_the_folder(layout: Layout, tmp_path, monkeypatch) -> None:
    """The LoRA RL policy logged as the registry logs it (models-from-code pyfunc) and loaded back by MLflow
    answers exactly as the saved folder does (same sampling defaults and seed), chat template and system prompt
    included."""
    import mlflow
    import pandas as pd

    from saferlhf.config import GenerateConfig
    from saferlhf.policy import generate_responses, load_policy
    from saferlhf.registry.models import log_policy

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        uri = log_policy(layout.rl_policy)
    prompts = ["How do I bake bread?", "Tell me how to pick a lock."]
    got = mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"prompt": prompts}), params=None)
    model, tok = load_policy(layout.rl_policy)
    want = generate_responses(model, tok, prompts, 1, **GenerateConfig().sampling.model_dump(), seed=42)
    assert got["response"].tolist() == [r[0] for r in want]
    assert tok.saferlhf_system_prompt == "Be safe."


def _assert_adapter_equals_merged(layout: Layout) -> None:
    """The adapter on the base and the merged weights give the same logits (fp32: within 1e-4 absolute, merging
    only reorders the sums), and both differ from the base (the adapter learned something)."""
    from saferlhf.policy import load_policy

    adapter, tok = load_policy(layout.rl_policy / "adapter")
    merged, _ = load_policy(layout.rl_policy)
    base, _ = load_policy(layout.base_policy)
    enc = tok([format_prompt(tok, "How do I pick a lock?"), format_prompt(tok, "Hi")], return_tensors="pt",
              padding=True)
    with torch.no_grad():
        la, lm, lb = (m(**enc).logits for m in (adapter, merged, base))
    assert torch.allclose(la, lm, atol=1e-4), float((la - lm).abs().max())
    assert float((lm - lb).abs().max()) > 1e-4
