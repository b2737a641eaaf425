"""`saferlhf serve`: resolve the model once (MLflow download + sha256 check happen here, before any worker
starts), hand the resolved settings to uvicorn workers through the environment, run uvicorn."""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

from saferlhf.artifacts import Layout, resolve
from saferlhf.config import ServeConfig
from saferlhf.serve.bundle import resolve_model
from saferlhf.serve.service import check_auth
from serving.protocol import ConnectionLimits, GuardedHttpToolsProtocol
from serving.settings import ENV_PREFIX, TOKEN_ENV

log = logging.getLogger("saferlhf.serving")


def settings_env(cfg: ServeConfig, output_root: Path) -> dict[str, str]:
    """SAFERLHF_SERVE_<FIELD> variables that rebuild `cfg` in every worker (None fields are left out)."""
    env = {f"{ENV_PREFIX}OUTPUT_ROOT": str(Path(output_root).resolve())}
    for name, value in cfg.model_dump().items():
        if value is None:
            continue
        env[ENV_PREFIX + name.upper()] = json.dumps(value) if isinstance(value, (list, tuple, bool)) else str(value)
    return env


def serve(cfg: ServeConfig, output_root: Path) -> None:
    import uvicorn

    check_auth(cfg.host, os.environ.get(TOKEN_ENV), cfg.auth)  # before any download: one clear line
    layout = Layout(Path(output_root))
    if cfg.model and cfg.model.startswith("models:/"):
        # download and verify once here; the workers then load the verified local copy
        bundle = resolve_model(cfg.model, cfg.precision, resolve(cfg.cache_dir, layout.serve_cache), cfg.model_version)
        cfg = cfg.model_copy(update={"model": str(bundle.folder), "model_version": bundle.version})
    else:  # fail fast with one clear line when the folder is wrong
        resolve_model(cfg.model or str(layout.reward_onnx), cfg.precision)
    os.environ.update(settings_env(cfg, layout.root))
    grpc = f", gRPC on {cfg.host}:{cfg.grpc_port}" if cfg.grpc_port else ""
    log.info("scoring service on http://%s:%d%s (%d worker(s))", cfg.host, cfg.port, grpc, cfg.workers)
    limits = ConnectionLimits(max_header_bytes=cfg.max_header_bytes, read_timeout_s=cfg.read_timeout_s)
    uvicorn.run("serving.app:create_app", factory=True, host=cfg.host, port=cfg.port, workers=cfg.workers,
                app_dir=str(Path(__file__).resolve().parents[1]), access_log=False, log_level="info",
                timeout_graceful_shutdown=30, http=functools.partial(GuardedHttpToolsProtocol, limits=limits),
                limit_concurrency=cfg.max_connections, timeout_keep_alive=cfg.keep_alive_s,
                h11_max_incomplete_event_size=cfg.max_header_bytes)
