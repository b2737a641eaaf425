"""Traffic simulator: bounded loopback requests to the scorer, built from the labelled dataset, so drift can be
made to appear (and disappear) in the monitor's report and the dashboard.

Profiles:
- `normal`: the held-out test split's mix of prompts and responses (what the reference was scored on);
- `jailbreak-surge`: mostly jailbreak/adversarial prompts answered unsafely, the rest normal;
- `toxic-shift`: mostly biased/toxic prompts answered unsafely, the rest normal.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from saferlhf.errors import UserError

log = logging.getLogger(__name__)

TOKEN_ENV = "SAFERLHF_API_TOKEN"
SCORE_PATH = "/v1/score"
MAX_ITEMS = 20_000  # a load bound: the simulator is a demo tool, not a load generator
SURGE_FRACTION = 0.8

PoolFn = Callable[[pd.DataFrame], pd.DataFrame]


def _normal(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["split"] == "test"]


def _unsafe_in(*categories: str) -> PoolFn:
    return lambda df: df[df["category"].isin(categories) & (df["response_type"] == "unsafe")]


# profile -> (shifted pool or None, share of items drawn from it); the rest comes from the normal mix
PROFILES: dict[str, tuple[PoolFn | None, float]] = {
    "normal": (None, 0.0),
    "jailbreak-surge": (_unsafe_in("jailbreak", "adversarial"), SURGE_FRACTION),
    "toxic-shift": (_unsafe_in("biased_toxic"), SURGE_FRACTION),
}


def _draw(pool: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """k rows: whole shuffled passes over the pool (no repeats until every row is used)."""
    if k == 0:
        return pool.iloc[:0]
    reps = -(-k // len(pool))
    order = np.concatenate([rng.permutation(len(pool)) for _ in range(reps)])[:k]
    return pool.iloc[order]


def build_traffic(labels: pd.DataFrame, profile: str, n: int, seed: int = 0) -> list[dict]:
    """n items {prompt, response, category} for a profile, in a seeded random order."""
    if profile not in PROFILES:
        raise UserError(f"--profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if not 1 <= n <= MAX_ITEMS:
        raise UserError(f"--n must be between 1 and {MAX_ITEMS}, got {n}")
    rng = np.random.default_rng(seed)
    shifted_fn, share = PROFILES[profile]
    k = round(n * share)  # items from the shifted pool; the rest from the normal mix
    normal = _normal(labels)
    if n - k and normal.empty:
        raise UserError("the dataset has no test-split rows for the normal mix")
    parts = [_draw(normal, n - k, rng)]
    if shifted_fn is not None:
        shifted = shifted_fn(labels)
        if shifted.empty:
            raise UserError(f"the dataset has no rows for profile {profile!r}")
        parts.append(_draw(shifted, k, rng))
    items = pd.concat(parts)
    items = items.iloc[rng.permutation(len(items))]
    return items[["prompt", "response", "category"]].to_dict("records")


def check_endpoint(endpoint: str, allow_remote: bool = False) -> str:
    """The /v1/score URL for `endpoint`; a host other than loopback is refused unless explicitly allowed."""
    url = urlparse(endpoint)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise UserError(f"--endpoint must be an http(s) URL like http://127.0.0.1:8000, got {endpoint!r}")
    host = url.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise UserError(f"--endpoint host {host!r} is not loopback (127.0.0.1/localhost); the simulator sends "
                        "synthetic unsafe traffic, so pass --allow-remote to target another host on purpose")
    base = endpoint.rstrip("/")
    return base if base.endswith(SCORE_PATH) else base + SCORE_PATH


def send_traffic(url: str, items: list[dict], batch_size: int = 16, timeout: float = 30.0,
                 max_seconds: float = 600.0) -> dict:
    """POST the items in batches; stops at the first failed request (one clear line) or after max_seconds."""
    import httpx

    headers = {"Authorization": f"Bearer {tok}"} if (tok := os.environ.get(TOKEN_ENV)) else {}
    sent, t0 = 0, time.perf_counter()
    with httpx.Client(timeout=timeout, headers=headers) as client:
        for i in range(0, len(items), batch_size):
            if time.perf_counter() - t0 > max_seconds:
                log.warning("simulate: stopped after %.0f s (max_seconds) with %d/%d items sent", max_seconds, sent,
                            len(items))
                break
            batch = [{"prompt": it["prompt"], "response": it["response"]} for it in items[i:i + batch_size]]
            try:
                r = client.post(url, json={"items": batch})
            except httpx.HTTPError as e:
                raise UserError(f"cannot reach the scorer at {url} ({type(e).__name__}: {e}); {sent} items sent")
            if r.status_code != 200:
                raise UserError(f"scorer at {url} answered HTTP {r.status_code} ({r.text[:200]!r}); {sent} items sent")
            sent += len(batch)
    return {"sent": sent, "seconds": round(time.perf_counter() - t0, 2)}


def run_simulate(endpoint: str, labels: pd.DataFrame, profile: str = "normal", n: int = 200, seed: int = 0,
                 batch_size: int = 16, allow_remote: bool = False, timeout: float = 30.0,
                 max_seconds: float = 600.0) -> dict:
    """Build and send one profile's traffic; returns what was sent and the mix by category."""
    if batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {batch_size}")
    url = check_endpoint(endpoint, allow_remote)
    items = build_traffic(labels, profile, n, seed)
    log.info("simulate: %d %s items -> %s", len(items), profile, url)
    result = send_traffic(url, items, batch_size, timeout, max_seconds)
    mix = pd.Series([it["category"] for it in items[:result["sent"]]]).value_counts().to_dict()
    return {"endpoint": url, "profile": profile, "requested": n, **result, "categories": mix}
