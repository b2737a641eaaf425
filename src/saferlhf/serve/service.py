"""The scoring service without the web framework: model + micro-batcher + prediction log.

`serving/app.py` creates one in its lifespan, keeps it on `app.state` and only translates HTTP to calls of
`score()`; everything testable about scoring lives here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import ServeConfig
from saferlhf.errors import UserError
from saferlhf.serve.batcher import MicroBatcher, Overloaded
from saferlhf.serve.bundle import ModelBundle, resolve_model
from saferlhf.serve.predlog import RETRY_SECONDS, LogWriteError, PredictionLog
from saferlhf.serve.scorer import OnnxScorer, Scorer, TorchScorer, cpu_limit, reward
from saferlhf.serve.v2 import check_texts

log = logging.getLogger(__name__)
LOOPBACK = ("127.", "::1", "localhost")


def check_auth(host: str, token: str | None, auth: bool) -> None:
    """Refuse settings that would serve without auth by accident: an empty token (it used to switch auth off
    silently), a non-loopback address without a token, or a token together with auth off."""
    if token is not None and not token.strip():
        raise UserError("SAFERLHF_API_TOKEN is set but empty; set a token, or unset it and pass --no-auth")
    if not auth:
        if token is not None:
            raise UserError("--no-auth together with SAFERLHF_API_TOKEN: unset the token or drop --no-auth")
        log.warning("serving %s without auth (--no-auth): anyone who reaches it can score and read metrics", host)
    elif token is None and not host.startswith(LOOPBACK):
        raise UserError(f"serve: host {host} is not loopback and SAFERLHF_API_TOKEN is not set; set a token, "
                        "or pass --no-auth to serve without one on purpose")


class ScoringService:
    def __init__(self, cfg: ServeConfig, bundle: ModelBundle, scorer: Scorer, predlog: PredictionLog | None,
                 on_batch: Callable[[int, float], None] | None = None,
                 on_scores: Callable[[np.ndarray, np.ndarray], None] | None = None,
                 on_log_error: Callable[[int], None] | None = None):
        self.cfg = cfg
        self.bundle = bundle
        self.scorer = scorer
        self.predlog = predlog
        self.on_scores = on_scores
        self.on_log_error = on_log_error  # (records not logged) for metrics
        self.batcher = MicroBatcher(scorer.scores, cfg.max_batch_size, cfg.max_wait_ms, on_batch,
                                    cfg.max_queue_items)

    @classmethod
    def build(cls, cfg: ServeConfig, output_root: Path, **hooks) -> ScoringService:
        """Resolve the model (local folder or MLflow URI, sha256-checked), load it, open the prediction log."""
        layout = Layout(Path(output_root))
        bundle = resolve_model(cfg.model or str(layout.reward_onnx), cfg.precision,
                               resolve(cfg.cache_dir, layout.serve_cache), cfg.model_version)
        threads = cfg.threads or cpu_limit()
        if cfg.backend == "torch":
            scorer: Scorer = TorchScorer(bundle.torch_model_dir, threads)
        else:
            scorer = OnnxScorer(bundle.onnx_path, bundle.tokenizer_path, bundle.max_length, threads, cfg.chunk_size,
                                cfg.parallel_runs or threads)
        log.info("serving %s (%s, %s backend, version %s, %d threads)", bundle.folder, bundle.precision,
                 cfg.backend, bundle.version, threads)
        predlog = (PredictionLog(resolve(cfg.log_dir, layout.predictions), cfg.log_max_bytes, cfg.log_raw_text,
                                 cfg.log_keep_bytes, cfg.log_keep_days) if cfg.log_predictions else None)
        return cls(cfg, bundle, scorer, predlog, **hooks)

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def live(self) -> bool:
        """False when a model call has not returned within model_stall_s (a restart is the remedy)."""
        return not self.batcher.stalled(self.cfg.model_stall_s)

    def not_ready_reason(self) -> str | None:
        """Why this worker should get no traffic now, or None when it should."""
        if not self.batcher.running:
            return "model not loaded yet"
        if not self.live:
            return f"the model has not answered for more than {self.cfg.model_stall_s:g} s"
        if self.predlog is not None and not self.predlog.available:
            return f"the prediction log cannot be written ({self.predlog.error})"
        return None

    @property
    def ready(self) -> bool:
        return self.not_ready_reason() is None

    async def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        """Score what is queued, then flush and close the prediction log."""
        await self.batcher.stop()
        if self.predlog is not None:
            self.predlog.close()

    async def score(self, prompts: list[str], responses: list[str], where: str = "items"
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Checked, batched scoring: (N, 4) float32 scores and (N,) float32 rewards; logged and observed."""
        check_texts(prompts, responses, self.cfg.max_items, self.cfg.max_chars, where)
        if self.predlog is not None and not self.predlog.available:  # fail fast: do not score what cannot be logged
            raise Overloaded(f"prediction log unavailable ({self.predlog.error}); retry on another replica",
                             int(RETRY_SECONDS))
        try:
            scores = await asyncio.wait_for(self.batcher.submit(prompts, responses), self.cfg.request_timeout_s)
        except TimeoutError:
            raise Overloaded(f"no scores within {self.cfg.request_timeout_s:g} s; retry later") from None
        rewards = reward(scores, self.bundle.weights)
        if self.predlog is not None:
            # An answered score is always a logged one (the monitor sees all traffic): when its records cannot be
            # written the request gets 503, not its scores, and the client retries on a replica that can log.
            try:
                self.predlog.write(prompts, responses, scores, rewards, self.version)
            except LogWriteError as e:
                if self.on_log_error is not None:
                    self.on_log_error(len(prompts))
                raise Overloaded(f"{e}; scores withheld, retry on another replica", int(RETRY_SECONDS)) from None
        if self.on_scores is not None:
            self.on_scores(scores, rewards)
        return scores, rewards
