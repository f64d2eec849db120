"""InferenceScheduler's policy and bookkeeping, with a stand-in backend that records what ran."""
import asyncio
import threading

import numpy as np
import pytest
import torch

from api.src.core.errors import Overloaded
from api.src.inference.backend import ChunkOutput
from api.src.inference.scheduler import InferenceScheduler, StreamClosed, chunk_seed


class RecordingBackend:
    """Runs 'chunks' whose output encodes (label, seed draw); blocks until released, to control order."""

    def __init__(self):
        self.ran: list[tuple[str, int]] = []
        self.gate = threading.Semaphore(0)
        self.fail_on: set[int] = set()

    def infer(self, input_ids, ref_s, speed):
        self.gate.acquire()
        label = input_ids[0]
        self.ran.append(label)
        if label in self.fail_on:
            raise RuntimeError(f"chunk {label} broke")
        noise = torch.rand(1).item()   # the scheduler seeds torch's RNG per chunk
        return ChunkOutput(np.array([label, noise], dtype=np.float64), np.array([1]))


def run(coro):
    return asyncio.run(coro)


async def wait_queued(scheduler, n):
    for _ in range(200):
        if scheduler.stats.queued_chunks >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {scheduler.stats.queued_chunks} queued")


def test_results_in_order_and_seeded():
    async def main():
        backend, scheduler = RecordingBackend(), InferenceScheduler(4, lookahead=8)
        scheduler.start()
        try:
            stream = scheduler.open_stream(backend, seed=5)
            for i in range(5):
                await stream.submit([i], None, 1.0)
            stream.end_input()
            for _ in range(5):
                backend.gate.release()
            return [out.audio async for out in stream.results()]
        finally:
            scheduler.stop()

    outputs = run(main())
    assert [o[0] for o in outputs] == [0, 1, 2, 3, 4]
    for i, o in enumerate(outputs):
        torch.manual_seed(chunk_seed(5, i))
        assert o[1] == torch.rand(1).item()


def test_policy_first_chunks_first_then_turns():
    """The pick order itself, without the thread: deterministic."""
    async def main():
        scheduler = InferenceScheduler(8, lookahead=4)
        scheduler._running = True          # accept jobs; no worker thread picks them
        backend = RecordingBackend()
        a = scheduler.open_stream(backend, seed=1)
        await a.submit([10], None, 1.0)
        order = [job.input_ids[0] for job in take(scheduler)]     # a's first chunk runs
        for label in (11, 12, 13):
            await a.submit([label], None, 1.0)
        b = scheduler.open_stream(backend, seed=2)
        for label in (20, 21):
            await b.submit([label], None, 1.0)
        c = scheduler.open_stream(backend, seed=3)
        await c.submit([30], None, 1.0)
        while True:
            jobs = take(scheduler)
            if not jobs:
                return order
            order += [job.input_ids[0] for job in jobs]

    order = run(main())
    assert order[:3] == [10, 20, 30]       # new requests' first chunks go ahead of a's second
    assert order[3:] == [11, 21, 12, 13]   # then turns: a long request cannot starve b


def take(scheduler):
    with scheduler._cond:
        jobs = scheduler._take_jobs()
        for job in jobs:
            job.stream.started = True
        scheduler.stats.queued_chunks -= len(jobs)
        return jobs


def test_close_drops_queued_chunks():
    async def main():
        backend, scheduler = RecordingBackend(), InferenceScheduler(4, lookahead=4)
        scheduler.start()
        try:
            stream = scheduler.open_stream(backend, seed=1)
            for i in range(4):
                await stream.submit([i], None, 1.0)
            await wait_queued(scheduler, 3)
            stream.close()
            stats = scheduler.stats
            backend.gate.release()
            with pytest.raises(StreamClosed):
                async for _ in stream.results():
                    pass
            return stats
        finally:
            scheduler.stop()

    stats = run(main())
    assert stats.active_streams == 0
    assert stats.queued_chunks == 0
    assert stats.chunks_dropped >= 3


def test_admission_bound_and_failure_isolation():
    async def main():
        backend, scheduler = RecordingBackend(), InferenceScheduler(2, lookahead=2)
        scheduler.start()
        try:
            bad = scheduler.open_stream(backend, seed=1)
            good = scheduler.open_stream(backend, seed=2)
            with pytest.raises(Overloaded) as info:
                scheduler.open_stream(backend)
            assert int(info.value.headers["Retry-After"]) >= 1
            backend.fail_on = {66}
            await bad.submit([66], None, 1.0)
            await good.submit([1], None, 1.0)
            bad.end_input()
            good.end_input()
            backend.gate.release()
            backend.gate.release()
            with pytest.raises(RuntimeError, match="chunk 66 broke"):
                async for _ in bad.results():
                    pass
            return [o.audio[0] async for o in good.results()]
        finally:
            scheduler.stop()

    assert run(main()) == [1]


def test_a_reader_that_stops_is_cut_off_and_a_dead_worker_restarted():
    from api.src.inference.scheduler import SlowReader, WorkerRestarted

    async def main():
        backend, scheduler = RecordingBackend(), InferenceScheduler(4, lookahead=2, slow_reader_timeout=0.2)
        scheduler.start()
        supervisor = asyncio.create_task(scheduler.supervise(interval=0.05))
        try:
            idle = scheduler.open_stream(backend, seed=1)
            await idle.submit([1], None, 1.0)
            backend.gate.release()
            await asyncio.sleep(0.6)            # its audio is ready, nobody reads it
            with pytest.raises(SlowReader):
                async for _ in idle.results():
                    pass
            assert scheduler.stats.slow_readers_cut == 1 and scheduler.stats.active_streams == 0

            doomed = scheduler.open_stream(backend, seed=2)
            await doomed.submit([2], None, 1.0, fault="worker")
            await asyncio.sleep(0.3)
            with pytest.raises(WorkerRestarted):
                async for _ in doomed.results():
                    pass
            assert scheduler.stats.worker_restarts == 1 and scheduler.alive
            survivor = scheduler.open_stream(backend, seed=3)
            await survivor.submit([3], None, 1.0)
            survivor.end_input()
            backend.gate.release()
            return [o.audio[0] async for o in survivor.results()]
        finally:
            supervisor.cancel()
            scheduler.stop()

    assert run(main()) == [3]
