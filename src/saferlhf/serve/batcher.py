"""Adaptive micro-batching: concurrent requests are coalesced into one model call.

Each request puts one job (its items) on an asyncio queue. A single consumer takes the first job, then keeps
taking jobs until the batch holds `max_batch` items or `max_wait_ms` has passed since the first. While the model
runs (in a worker thread, so the event loop keeps accepting requests) new jobs pile up, so the batch size adapts
to the load: one item at a time when idle, full batches under pressure.

Bounded: at most `max_queue` items wait (more is refused at once with `Overloaded`, a 503 with Retry-After, instead
of growing memory and latency without end); a request whose caller stopped waiting is dropped before the model
call; `stalled(seconds)` tells the health probes that a model call has not returned for that long."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from saferlhf.serve.v2 import RequestError

log = logging.getLogger(__name__)


class Overloaded(RequestError):
    """503 + Retry-After: this replica cannot take the request now; another one (or this one, later) can."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message, 503)
        self.retry_after = retry_after


@dataclass
class _Job:
    prompts: list[str]
    responses: list[str]
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """`await submit(prompts, responses)` -> (n, 4) scores, computed with other requests' items."""

    def __init__(self, score_fn: Callable[[list[str], list[str]], np.ndarray], max_batch: int = 64,
                 max_wait_ms: float = 2.0, on_batch: Callable[[int, float], None] | None = None,
                 max_queue: int = 1024):
        self.score_fn = score_fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.on_batch = on_batch  # (batch size, seconds in the model) for metrics
        self.max_queue = max_queue
        self.queued = 0  # items submitted and not yet handed to the model
        self._busy_since: float | None = None  # monotonic start of the model call in flight
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer")  # one model call at a time
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def stalled(self, seconds: float) -> bool:
        """True when a model call has been running for more than `seconds`."""
        return self._busy_since is not None and time.monotonic() - self._busy_since > seconds

    async def submit(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        if not self.running:
            raise Overloaded("the scorer is shutting down")
        if self.queued + len(prompts) > self.max_queue:
            raise Overloaded(f"{self.queued} items are waiting for the model (limit {self.max_queue}); retry later")
        fut = asyncio.get_running_loop().create_future()
        self.queued += len(prompts)
        self._queue.put_nowait(_Job(prompts, responses, fut))
        return await fut

    async def stop(self) -> None:
        """Finish every queued job, then stop (graceful shutdown loses no accepted request)."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            jobs, n = [first], len(first.prompts)
            deadline = time.monotonic() + self.max_wait
            while n < self.max_batch:
                try:  # take what is already queued without waiting, then wait out the deadline
                    job = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        job = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                if job is None:
                    stopping = True
                    break
                jobs.append(job)
                n += len(job.prompts)
            await self._score(jobs, n)

    async def _score(self, jobs: list[_Job], n: int) -> None:
        self.queued -= n
        jobs = [j for j in jobs if not j.future.done()]  # callers that timed out or went away: skip their items
        if not jobs:
            return
        n = sum(len(j.prompts) for j in jobs)
        prompts = [p for j in jobs for p in j.prompts]
        responses = [r for j in jobs for r in j.responses]
        t0 = time.perf_counter()
        self._busy_since = time.monotonic()
        try:
            scores = await asyncio.get_running_loop().run_in_executor(self._executor, self.score_fn, prompts,
                                                                      responses)
        except Exception as e:  # noqa: BLE001 - every waiting request must get an answer
            log.exception("scoring a batch of %d items failed", n)
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(e)
            return
        finally:
            self._busy_since = None
        if self.on_batch:
            self.on_batch(n, time.perf_counter() - t0)
        start = 0
        for j in jobs:  # hand each request its own rows back
            k = len(j.prompts)
            if not j.future.done():  # the client may have gone away
                j.future.set_result(scores[start:start + k])
            start += k
