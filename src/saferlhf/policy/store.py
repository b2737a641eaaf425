"""Saved policies: one folder of safetensors + config + tokenizer (+ generation config, system prompt), or a
LoRA adapter folder on top of one. Every reader (RL, evaluation, probes, registry pyfunc, dashboard) loads
through `load_policy`, so both kinds work everywhere."""

from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path

from saferlhf.errors import UserError
from saferlhf.io import write_text
from saferlhf.policy.chat import SYSTEM_PROMPT_FILE, end_token_ids, system_prompt_of

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"  # inside a LoRA-trained RL policy folder; the folder itself holds the merged model
ADAPTER_CONFIG = "adapter_config.json"


def save_policy(model, tokenizer, out_dir: str | Path) -> Path:
    """safetensors weights + config + generation config + tokenizer (padding_side=left) in one folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    return save_tokenizer(tokenizer, out)


def save_tokenizer(tokenizer, out: Path) -> Path:
    """The tokenizer (padding_side=left) and the policy's system prompt beside weights saved in `out`."""
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(out)
    if system_prompt_of(tokenizer):
        write_text(out / SYSTEM_PROMPT_FILE, system_prompt_of(tokenizer))
    return out


def save_rl_policy(model, tokenizer, out_dir: str | Path) -> Path:
    """A full-weight model as `save_policy`; a PEFT model as its adapter (out/adapter) plus the merged model (out),
    so readers that want plain weights need not know about LoRA."""
    out = Path(out_dir)
    if not hasattr(model, "merge_and_unload"):
        return save_policy(model, tokenizer, out)
    model.save_pretrained(out / ADAPTER_DIR, safe_serialization=True)
    tokenizer.save_pretrained(out / ADAPTER_DIR)
    return save_policy(model.merge_and_unload(), tokenizer, out)


def _load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    system = path / SYSTEM_PROMPT_FILE
    # the policy's system prompt rides on its tokenizer: every prompt is formatted from the tokenizer
    tokenizer.saferlhf_system_prompt = system.read_text(encoding="utf-8") if system.is_file() else None
    return tokenizer


def load_policy(path: str | Path, device=None):
    """(model in eval mode on `device` (default: where it loads, the CPU), tokenizer with padding_side='left')
    from a saved policy or LoRA adapter folder. The generation config's eos list holds every end token, so TRL
    and `generate` stop at any of them."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    is_adapter = (path / ADAPTER_CONFIG).is_file() and not (path / "config.json").is_file()
    if not is_adapter and not (path / "config.json").is_file():
        raise UserError(f"{path}: not a saved policy (no config.json); run `saferlhf policy init` first")
    try:
        if is_adapter:
            model, tokenizer = _load_adapter(path)
        else:
            tokenizer = _load_tokenizer(path)
            model = AutoModelForCausalLM.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot load policy ({str(e).splitlines()[0]})") from None
    model.generation_config.eos_token_id = end_token_ids(model, tokenizer)
    return (model.to(device) if device is not None else model).eval(), tokenizer


def _load_adapter(path: Path):
    from peft import PeftModel

    base = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base or not (Path(base) / "config.json").is_file():
        raise UserError(f"{path}: LoRA adapter whose base policy {base!r} is not a saved policy folder")
    model, tokenizer = load_policy(base)
    return PeftModel.from_pretrained(model, str(path)), tokenizer


def use_padding_aware_positions(model) -> None:
    """Derive position ids from the attention mask whenever a caller passes a mask but no positions.

    Why: GPT-2 adds absolute position embeddings and, given no `position_ids`, numbers tokens 0..T-1. `generate()`
    derives positions from the mask (a left-padded prompt starts at position 0), but TRL's log-prob pass calls
    `model(input_ids, attention_mask)` on the same left-padded rows without positions, so a prompt padded by k
    tokens was scored k positions off from how it was sampled: the policy gradient and the KL to the reference
    were computed under another distribution than the samples came from (KL spikes of 1-1.6 nats/token).

    The hook sits on the backbone (`model.transformer` / `model.model`), not on the top-level model: PEFT calls
    the wrapped model's `forward` directly and TRL's fused LM head replaces it, so hooks there never fire, while
    both still call the backbone as a module. Rotary models (Llama, Qwen) are unaffected by a uniform shift, and
    the hook makes them number positions exactly as `generate()` does anyway."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(inner, getattr(inner, "base_model_prefix", ""), None) or inner
    if getattr(backbone, "_saferlhf_positions_hooked", False):
        return
    if "position_ids" not in inspect.signature(backbone.forward).parameters:
        return

    def hook(module, args, kwargs):
        ids, mask = kwargs.get("input_ids", args[0] if args else None), kwargs.get("attention_mask")
        if (kwargs.get("position_ids") is None and kwargs.get("past_key_values") is None and ids is not None
                and mask is not None and mask.shape == ids.shape):
            kwargs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T), as generate() does
        return args, kwargs

    backbone.register_forward_pre_hook(hook, with_kwargs=True)
    backbone._saferlhf_positions_hooked = True
