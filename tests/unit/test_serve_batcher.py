"""Micro-batcher: concurrent requests are coalesced, each gets its own rows back, shutdown drains the queue."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from saferlhf.serve.batcher import MicroBatcher


def _fake_scores(prompts, responses):  # (N, 4): row i encodes its prompt so we can check routing
    time.sleep(0.01)  # a model call takes time, so requests pile up meanwhile
    return np.array([[float(p), float(r), 0.0, 1.0] for p, r in zip(prompts, responses)], dtype=np.float32)


def test_concurrent_requests_are_coalesced_and_routed():
    sizes = []

    async def main():
        b = MicroBatcher(_fake_scores, max_batch=16, max_wait_ms=5, on_batch=lambda n, s: sizes.append(n))
        b.start()
        jobs = [b.submit([str(i), str(i + 1)], [str(-i), str(-i - 1)]) for i in range(0, 40, 2)]
        out = await asyncio.gather(*jobs)
        await b.stop()
        return out

    out = asyncio.run(main())
    for k, rows in zip(range(0, 40, 2), out):
        assert rows.shape == (2, 4) and rows[:, 0].tolist() == [k, k + 1] and rows[:, 1].tolist() == [-k, -k - 1]
    assert sum(sizes) == 40 and max(sizes) > 2 and max(sizes) <= 16  # coalesced, never above max_batch
    assert len(sizes) < 20


def test_stop_finishes_queued_jobs_and_errors_reach_callers():
    async def main():
        b = MicroBatcher(_fake_scores, max_batch=4, max_wait_ms=0)
        b.start()
        tasks = [asyncio.create_task(b.submit([str(i)], ["0"])) for i in range(10)]
        await asyncio.sleep(0)
        await b.stop()
        done = [t.result()[0, 0] for t in tasks]
        bad = MicroBatcher(lambda p, r: 1 / 0, max_batch=4, max_wait_ms=0)
        bad.start()
        with pytest.raises(ZeroDivisionError):
            await bad.submit(["a"], ["b"])
        await bad.stop()
        return done

    assert asyncio.run(main()) == list(range(10))


def test_full_queue_is_refused_at_once_and_a_hung_model_is_seen():
    import threading

    from saferlhf.serve.batcher import Overloaded

    release = threading.Event()
    scored = []

    def hung(prompts, responses):  # a model call that does not return until released
        release.wait(10)
        scored.extend(prompts)
        return np.zeros((len(prompts), 4), np.float32)

    async def main():
        b = MicroBatcher(hung, max_batch=2, max_wait_ms=0, max_queue=4)
        b.start()
        first = asyncio.create_task(b.submit(["a", "b"], ["", ""]))  # taken by the model, which hangs
        await asyncio.sleep(0.05)
        assert b.stalled(0.01) and not b.stalled(5)
        waiting = [asyncio.create_task(b.submit([f"q{i}"], [""])) for i in range(4)]  # fills the queue
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as e:
            await b.submit(["one too many"], [""])
        assert e.value.status == 503 and e.value.retry_after >= 1 and "4 items are waiting" in str(e.value)
        with pytest.raises(TimeoutError):  # a caller that gives up: its items are skipped, not scored
            await asyncio.wait_for(waiting[0], 0.01)
        release.set()
        await asyncio.gather(first, *waiting[1:])
        await b.stop()
        assert not b.stalled(0.0)

    asyncio.run(main())
    assert "q0" not in scored and {"a", "b", "q1", "q2", "q3"} <= set(scored)
