"""Prometheus metrics of one server process (its own registry, so several apps in one process stay apart)."""

from __future__ import annotations

import time

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram

from saferlhf.signals import SIGNALS

_LATENCY_BUCKETS = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_SCORE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("saferlhf_requests", "HTTP requests by endpoint and status code",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("saferlhf_request_latency_seconds", "HTTP request latency", ["endpoint"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("saferlhf_batch_size", "Items per model call (micro-batch size)",
                                    buckets=_BATCH_BUCKETS, registry=r)
        self.batch_latency = Histogram("saferlhf_batch_latency_seconds", "Seconds per model call",
                                       buckets=_LATENCY_BUCKETS, registry=r)
        self.items = Counter("saferlhf_scored_items", "Scored (prompt, response) items", registry=r)
        self.scores = Histogram("saferlhf_score", "Score distribution per signal", ["signal"],
                                buckets=_SCORE_BUCKETS, registry=r)
        self.log_dropped = Counter("saferlhf_log_dropped_records", "Scored items whose prediction-log record "
                                   "could not be written (their requests were answered 503)", registry=r)
        self.reward = Histogram("saferlhf_reward", "Combined reward distribution",
                                buckets=(-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5), registry=r)

    def observe_batch(self, n: int, seconds: float) -> None:
        self.batch_size.observe(n)
        self.batch_latency.observe(seconds)

    def observe_scores(self, scores: np.ndarray, rewards: np.ndarray) -> None:
        self.items.inc(len(rewards))
        for j, name in enumerate(SIGNALS):
            h = self.scores.labels(name)
            for v in scores[:, j].tolist():
                h.observe(v)
        for v in rewards.tolist():
            self.reward.observe(v)


class MetricsMiddleware:
    """Pure ASGI middleware: count and time every HTTP request by endpoint (unknown paths -> `other`)."""

    def __init__(self, app, metrics: ServiceMetrics, endpoints: set[str]):
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"] if scope["path"] in self.endpoints else "other"
        status = {"code": 500}
        t0 = time.perf_counter()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.requests.labels(path, str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - t0)
