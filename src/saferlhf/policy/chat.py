"""The policy's one prompt format, shared by SFT, generation, RL, KL, evaluation, probes, the registry's pyfunc
and the dashboard.

A tokenizer with a chat template (SmolLM2, Qwen, Llama ...) gets its own template with `add_generation_prompt`
(and the policy's system prompt, if it has one); a tokenizer without one (the from-scratch GPT-2) gets the plain
`User: ...\\nAssistant:` format. Prompt texts are tokenized with the tokenizer's default special tokens, as TRL's
GRPOTrainer does (`processing_class(text=prompts)`), so a BOS lands where the model expects it, exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence

PLAIN_TEMPLATE = "User: {prompt}\nAssistant:"
SYSTEM_PROMPT_FILE = "system_prompt.txt"  # beside a saved policy: its system prompt travels with its weights
_PROBE = "\x00probe\x00"  # stands in for a response when reading the template's end-of-turn text


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def system_prompt_of(tokenizer) -> str | None:
    """The system prompt `load_policy` attached to this tokenizer (None: the template's own default)."""
    return getattr(tokenizer, "saferlhf_system_prompt", None) or None


def _messages(prompt: str, system: str | None) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def adds_bos(tokenizer) -> bool:
    """Whether tokenizing text with default special tokens prepends the BOS token (Llama-style tokenizers)."""
    bos = tokenizer.bos_token_id
    ids = tokenizer("a")["input_ids"]
    return bos is not None and bool(ids) and ids[0] == bos


def format_prompt(tokenizer, prompt: str, system: str | None = None) -> str:
    """Prompt text up to where the assistant's answer starts. `tokenizer(text)` of it gives the model's ids."""
    prompt = prompt.strip()
    if not has_chat_template(tokenizer):
        return PLAIN_TEMPLATE.format(prompt=prompt)
    text = tokenizer.apply_chat_template(_messages(prompt, system or system_prompt_of(tokenizer)), tokenize=False,
                                         add_generation_prompt=True)
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and adds_bos(tokenizer):  # the template writes BOS and so does the tokenizer
        text = text[len(bos):]
    return text


def end_of_turn(tokenizer) -> str:
    """Text the chat template puts after an assistant answer, up to and including its end token
    (`<|im_end|>` for ChatML); the tokenizer's EOS when the template does not tell."""
    eos = tokenizer.eos_token or ""
    if not has_chat_template(tokenizer):
        return eos
    msgs = _messages("hi", None)
    try:
        head = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(msgs + [{"role": "assistant", "content": _PROBE}], tokenize=False)
    except Exception:  # noqa: BLE001 - templates are user-supplied Jinja; any failure means "not told"
        return eos
    if not full.startswith(head) or _PROBE not in full[len(head):]:
        return eos
    tail = full[len(head):].split(_PROBE, 1)[1]
    ends = [t for t in tokenizer.all_special_tokens if t and t in tail]
    if not ends:
        return eos
    cut = min(tail.index(t) + len(t) for t in ends)  # through the first special token: the model stops there
    return tail[:cut]


def response_text(tokenizer, response: str, end: bool = True) -> str:
    """The answer as the model should produce it after `format_prompt`, with the end-of-turn text if `end`."""
    response = response.strip()
    if not has_chat_template(tokenizer):
        return " " + response + ((tokenizer.eos_token or "") if end else "")
    return response + (end_of_turn(tokenizer) if end else "")


def encode_pair(tokenizer, prompt: str, response: str, end: bool = True) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids) in the policy's format; the response part never gets special tokens added."""
    head = tokenizer(format_prompt(tokenizer, prompt))["input_ids"]
    tail = tokenizer(response_text(tokenizer, response, end), add_special_tokens=False)["input_ids"] \
        if response.strip() or end else []
    return head, tail


def end_token_ids(model, tokenizer) -> list[int]:
    """Every token that ends an answer: the generation config's eos list, the model config's and the tokenizer's."""
    ids: list[int] = []
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None),
                  getattr(model.config, "eos_token_id", None), tokenizer.eos_token_id):
        for i in (value if isinstance(value, (list, tuple)) else [value]):
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return ids


def decode_completions(tokenizer, rows, end_ids: Sequence[int]) -> list[str]:
    """Completion texts from (N, T) generated ids: cut at the first end token, template tokens dropped."""
    out = []
    for row in rows.tolist():
        cut = next((k for k, t in enumerate(row) if t in end_ids), len(row))
        out.append(tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
    return out
