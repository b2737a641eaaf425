"""Tiny random-weight chat models of real architectures (LlamaForCausalLM, Qwen2ForCausalLM: 2 layers, hidden 64)
with a locally trained byte-level BPE tokenizer carrying a Jinja chat template, a BOS and two end tokens.

`llama`: the tokenizer prepends BOS itself and the template writes it too (Llama 2/3 style: one must be dropped);
`qwen2`: the tokenizer adds nothing and the template writes BOS. In both the tokenizer's eos is `</s>` and the
generation config lists `</s>` and `<|im_end|>` (the template's end of turn) as end tokens."""

from __future__ import annotations

from pathlib import Path

BOS, EOS, PAD, IM_START, IM_END = "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
ARCHS = ("llama", "qwen2")


def build_tokenizer(texts: list[str], arch: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [PAD, BOS, EOS, IM_START, IM_END]
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(vocab_size=500, special_tokens=specials,
                                                               show_progress=False,
                                                               initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if arch == "llama":  # prepend BOS on every encode, as Llama tokenizers do
        tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A $B",
                                                           special_tokens=[(BOS, tok.token_to_id(BOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   additional_special_tokens=[IM_START, IM_END], chat_template=CHAT_TEMPLATE)


def build_model(tokenizer, arch: str, seed: int = 0):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cls_cfg, cls = (LlamaConfig, LlamaForCausalLM) if arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
    ends = [tokenizer.convert_tokens_to_ids(EOS), tokenizer.convert_tokens_to_ids(IM_END)]
    config = cls_cfg(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                     tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id, eos_token_id=ends[0],
                     pad_token_id=tokenizer.pad_token_id)
    model = cls(config)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=ends,
                                               pad_token_id=tokenizer.pad_token_id)
    return model


def save_tiny_chat_model(folder: Path, texts: list[str], arch: str) -> Path:
    """A saved tiny chat model folder (`policy.model_name` takes it like any local Hugging Face model)."""
    tokenizer = build_tokenizer(texts, arch)
    model = build_model(tokenizer, arch)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
