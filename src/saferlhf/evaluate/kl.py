"""KL(P_RL || P_base) measured from both policies' logits on responses the RL policy sampled."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from saferlhf.policy.chat import encode_pair
from saferlhf.policy.pretrained import context_length


def _batch(tokenizer, prompts: list[str], responses: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (B, T) ids, attention mask, and response mask (1 on response tokens), encoded the way the
    policy was trained (`saferlhf.policy.chat.encode_pair`, without the end-of-turn tokens)."""
    rows, resp = [], []
    for p, r in zip(prompts, responses):
        head, tail = encode_pair(tokenizer, p, r, end=False)
        rows.append(head + tail)
        resp.append([0] * len(head) + [1] * len(tail))
    n = max(len(x) for x in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), n), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    rmask = torch.zeros((len(rows), n), dtype=torch.float)
    for i, (x, m) in enumerate(zip(rows, resp)):
        ids[i, :len(x)], mask[i, :len(x)], rmask[i, :len(m)] = torch.tensor(x), 1, torch.tensor(m, dtype=torch.float)
    return ids, mask, rmask


@torch.no_grad()
def policy_kl(rl_model, base_model, tokenizer, prompts: list[str], responses: list[str],
              batch_size: int = 16) -> dict[str, float]:
    """Per-token KL of the RL policy from the base policy on the RL policy's own responses.

    `sampled`: mean over response tokens of log p_rl(x_t) - log p_base(x_t) (the Monte-Carlo estimate the seed
    and TRL report); `exact`: mean over the same positions of the full-vocabulary KL
    sum_v p_rl(v) (log p_rl(v) - log p_base(v)) (no sampling noise, always >= 0). Both in nats per token."""
    n_max = context_length(rl_model.config, 10**9)
    sampled_sum = exact_sum = tokens = 0.0
    for i in range(0, len(prompts), batch_size):
        ids, mask, rmask = _batch(tokenizer, prompts[i:i + batch_size], responses[i:i + batch_size])
        dev = rl_model.device
        ids, mask, rmask = ids[:, :n_max].to(dev), mask[:, :n_max].to(dev), rmask[:, :n_max].to(dev)
        lp_rl = F.log_softmax(rl_model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)  # (B,T-1,V)
        lp_base = F.log_softmax(base_model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
        target = ids[:, 1:].unsqueeze(-1)  # (B, T-1, 1): token t+1 is predicted at position t
        m = rmask[:, 1:]  # (B, T-1) positions that predict a response token
        ratio = (lp_rl.gather(-1, target) - lp_base.gather(-1, target)).squeeze(-1)  # (B, T-1)
        exact = (lp_rl.exp() * (lp_rl - lp_base)).sum(-1)  # (B, T-1)
        sampled_sum += float((ratio * m).sum())
        exact_sum += float((exact * m).sum())
        tokens += float(m.sum())
    if tokens == 0:
        return {"sampled": float("nan"), "exact": float("nan"), "tokens": 0}
    return {"sampled": sampled_sum / tokens, "exact": exact_sum / tokens, "tokens": int(tokens)}
