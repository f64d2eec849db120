"""InferenceScheduler's policy and bookkeeping, with a stand-in backend that records what ran."""
import asyncio
import math
import threading

import numpy as np
import pytest
import torch

from api.src.http.errors import http_error
from api.src.core.exceptions import Overloaded
from api.src.inference.backend import ChunkOutput
from api.src.inference.faulty_backend import InjectedWorkerCrash
from api.src.inference.scheduler import InferenceScheduler, StreamClosed, chunk_seed
from tests.support.backends import SeededByGlobalRng
from tests.support.reference import reference_chunk


class RecordingBackend(SeededByGlobalRng):
    """Runs 'chunks' whose output encodes (label, seed draw); blocks until released, to control order."""

    device = "cpu"   # the worker's per-batch GPU memory hook reads it

    def __init__(self):
        self.ran: list[tuple[str, int]] = []
        self.gate = threading.Semaphore(0)
        self.fail_on: set[int] = set()
        self.crash_on: set[int] = set()   # these kill the worker thread (as FAULT_INJECTION's marker does)

    def infer(self, input_ids, ref_s, speed):
        if input_ids[0] in self.crash_on:
            raise InjectedWorkerCrash()
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
        scheduler._queue.running = True    # accept jobs; no worker thread picks them
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
    """The worker's next pick, made on this thread (no worker runs)."""
    with scheduler._queue.lock:
        return scheduler._queue.take()


def test_close_drops_queued_chunks():
    async def main():
        backend, scheduler = RecordingBackend(), InferenceScheduler(4, lookahead=4)
        scheduler.start()
        try:
            stream, stats = scheduler.open_stream(backend, seed=1), scheduler.stats
            for i in range(4):
                await stream.submit([i], None, 1.0)
            await wait_queued(scheduler, 3)
            for _ in range(200):   # the worker holds chunk 0 (blocked in the backend)
                if stats.running_streams:
                    break
                await asyncio.sleep(0.01)
            stream.close()
            backend.gate.release()
            with pytest.raises(StreamClosed):
                async for _ in stream.results():
                    pass
            for _ in range(200):   # the chunk that was running when the client left finishes
                if stats.chunks_dropped + stats.chunks_done == 4:
                    break
                await asyncio.sleep(0.01)
            return stats
        finally:
            scheduler.stop()

    stats = run(main())
    assert stats.active_streams == 0
    assert stats.queued_chunks == 0
    # the three queued and the one that finished after its request left: none was delivered
    assert (stats.chunks_dropped, stats.chunks_done) == (4, 0)


def test_admission_bound_and_failure_isolation():
    async def main():
        backend, scheduler = RecordingBackend(), InferenceScheduler(2, lookahead=2)
        scheduler.start()
        try:
            bad = scheduler.open_stream(backend, seed=1)
            good = scheduler.open_stream(backend, seed=2)
            with pytest.raises(Overloaded) as info:
                scheduler.open_stream(backend)
            assert int(http_error(info.value).headers["Retry-After"]) >= 1
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
            backend.crash_on = {2}
            await doomed.submit([2], None, 1.0)
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


# -- batching, backpressure and out-of-memory ----------------------------------------------------


class LabelBackend:
    """A backend that is only an identity for the scheduler's picks (nothing runs)."""

    device = "cpu"


async def started_stream(scheduler, backend, seed, *lengths):
    """A stream whose first chunk has already run (as its lane in the queue records), with chunks of the
    given lengths queued."""
    stream = scheduler.open_stream(backend, seed=seed)
    next(lane for lane in scheduler._queue.lanes() if lane.stream is stream).started = True
    for n in lengths:
        await stream.submit([seed] * n, None, 1.0)
    return stream


def test_batch_takes_same_version_up_to_the_limits_grouped_by_length():
    async def main():
        scheduler = InferenceScheduler(16, lookahead=4, max_batch_size=3, max_batch_tokens=10_000, max_padding=0.2)
        scheduler._queue.running = True
        a, b = LabelBackend(), LabelBackend()
        for seed, n in ((1, 100), (2, 98), (3, 20), (4, 95), (6, 97)):
            await started_stream(scheduler, a, seed, n)
        await started_stream(scheduler, b, 5, 100)
        first = [job.input_ids[0] for job in take(scheduler)]
        rest = [[job.input_ids[0] for job in take(scheduler)] for _ in range(3)]

        tight = InferenceScheduler(16, lookahead=4, max_batch_size=8, max_batch_tokens=2 * 102, max_padding=0.3)
        tight._queue.running = True
        for seed in (1, 2, 3):
            await started_stream(tight, a, seed, 100)
        budget = [job.input_ids[0] for job in take(tight)]
        return first, rest, budget

    first, rest, budget = run(main())
    assert first == [1, 2, 4]     # the 20-phoneme chunk would pad too much, b is another version, size cap 3
    assert rest == [[3], [6], [5]]  # then turns go on: the short one alone, the other version in its own batch
    assert budget == [1, 2]       # 3 x 102 padded phonemes exceed MAX_BATCH_TOKENS


def test_batching_keeps_first_chunks_first_whatever_their_length():
    async def main():
        scheduler = InferenceScheduler(16, lookahead=4, max_batch_size=8, max_padding=0.3)
        scheduler._queue.running = True
        backend = LabelBackend()
        await started_stream(scheduler, backend, 1, 200, 200)
        new_short = scheduler.open_stream(backend, seed=2)
        await new_short.submit([2] * 10, None, 1.0)
        new_long = scheduler.open_stream(backend, seed=3)
        await new_long.submit([3] * 150, None, 1.0)
        first = [job.input_ids[0] for job in take(scheduler)]
        rest = [job.input_ids[0] for job in take(scheduler)]
        return first, rest

    first, rest = run(main())
    assert first == [2, 3]        # both new requests, despite the padding; the running one waits
    assert rest == [1, 1]         # then the running one's two chunks, in its own order, in one batch


def test_fifo_policy_serves_in_arrival_order():
    async def main():
        scheduler = InferenceScheduler(8, lookahead=4, policy="fifo")
        scheduler._queue.running = True
        backend = LabelBackend()
        a = await started_stream(scheduler, backend, 1, 5, 5)
        b = scheduler.open_stream(backend, seed=2)
        await b.submit([2], None, 1.0)
        await a.submit([1], None, 1.0)
        order = []
        while jobs := take(scheduler):
            order += [(job.input_ids[0], len(jobs)) for job in jobs]
        return order

    assert run(main()) == [(1, 1), (1, 1), (2, 1), (1, 1)]   # a new request's first chunk does not jump ahead


@pytest.fixture(scope="module")
def tiny_backend():
    from api.src.builds import VERSIONS
    from api.src.inference.backend import KokoroBackend
    from api.src.inference.engines import apply_engine
    from api.src.tools.random_model import build_config, build_random_kmodel

    config = build_config("v1_0", "tiny")
    model = apply_engine(build_random_kmodel(config, seed=11, frames_per_phoneme=3.0), "torch-fp32")
    return KokoroBackend(VERSIONS["v1_0"], model, config, voices=None, device="cpu")


def test_a_batched_chunk_matches_the_chunk_run_alone(tiny_backend):
    """Three requests' first chunks run as one batch; each equals its own batch-1 run (tolerance)."""
    ids = sorted(set(tiny_backend.vocab.values()) - {0})
    rng = torch.Generator().manual_seed(3)
    chunks = [([ids[k] for k in torch.randint(len(ids), (n,), generator=rng).tolist()],
               torch.randn(1, 256, generator=rng) * 0.1, speed) for n, speed in ((40, 1.0), (12, 1.3), (25, 1.0))]

    async def synthesize(scheduler):
        scheduler.start()
        try:
            streams = [scheduler.open_stream(tiny_backend, seed=100 + k) for k in range(len(chunks))]
            for stream, (input_ids, ref_s, speed) in zip(streams, chunks):
                await stream.submit(input_ids, ref_s, speed)
                stream.end_input()
            return [[out async for out in stream.results()] for stream in streams], scheduler.stats.batches
        finally:
            scheduler.stop()

    batched, batches = run(synthesize(InferenceScheduler(8, lookahead=2, max_batch_size=3, batch_wait_ms=2000)))
    alone, _ = run(synthesize(InferenceScheduler(8, lookahead=2)))
    assert batches == 1
    for (b,), (a,) in zip(batched, alone):
        np.testing.assert_array_equal(b.pred_dur, a.pred_dur)
        assert b.audio.shape == a.audio.shape
        assert float(np.abs(b.audio - a.audio).max()) <= 1e-4
    # batch 1 is the exact path: the stock forward after torch.manual_seed(chunk seed)
    input_ids, ref_s, speed = chunks[0]
    reference = reference_chunk(tiny_backend.model, input_ids, ref_s, speed, seed=chunk_seed(100, 0))
    np.testing.assert_array_equal(alone[0][0].audio, reference.audio)


def test_a_chunk_is_immune_to_other_threads_using_the_global_rng(tiny_backend):
    """Another thread drawing from and reseeding torch's global RNG (as building a model does) while
    seeded chunks run does not change a byte of them: the exact path draws from its own generator."""
    ids = sorted(set(tiny_backend.vocab.values()) - {0})
    ref_s = torch.randn(1, 256, generator=torch.Generator().manual_seed(6)) * 0.1
    chunks = [ids[k:k + 30] for k in range(0, 90, 30)]
    expected = []
    for i, input_ids in enumerate(chunks):
        expected.append(reference_chunk(tiny_backend.model, input_ids, ref_s, 1.0, seed=chunk_seed(7, i)).audio)
    stop = threading.Event()

    def disturb():
        while not stop.is_set():
            torch.manual_seed(int(torch.randint(1 << 30, (1,))))
            torch.nn.Linear(64, 64)   # weight init draws from the global RNG

    async def synthesize():
        scheduler = InferenceScheduler(4, lookahead=4)
        scheduler.start()
        try:
            stream = scheduler.open_stream(tiny_backend, seed=7)
            for input_ids in chunks:
                await stream.submit(input_ids, ref_s, 1.0)
            stream.end_input()
            return [out.audio async for out in stream.results()]
        finally:
            scheduler.stop()

    disturber = threading.Thread(target=disturb, daemon=True)
    disturber.start()
    try:
        outputs = run(synthesize())
    finally:
        stop.set()
        disturber.join()
    for out, ref in zip(outputs, expected, strict=True):
        np.testing.assert_array_equal(out, ref)


class OomBackend(SeededByGlobalRng):
    """Batches larger than ``fits`` run out of memory; records every forward's size."""

    device = "cpu"

    def __init__(self, fits: int):
        self.fits = fits
        self.sizes: list[int] = []

    def infer_batch(self, items, half=False):
        self.sizes.append(len(items))
        if len(items) > self.fits:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return [ChunkOutput(np.array([item.input_ids[0]], dtype=np.float32), np.array([1])) for item in items]

    def infer(self, input_ids, ref_s, speed):
        self.sizes.append(1)
        return ChunkOutput(np.array([input_ids[0]], dtype=np.float32), np.array([1]))


def test_out_of_memory_splits_the_batch_and_retries():
    async def main():
        backend = OomBackend(fits=2)
        scheduler = InferenceScheduler(8, lookahead=2, max_batch_size=5)
        scheduler._queue.running = True
        streams = []
        for k in range(5):
            stream = scheduler.open_stream(backend, seed=k)
            await stream.submit([k], None, 1.0)
            stream.end_input()
            streams.append(stream)
        jobs = take(scheduler)
        assert len(jobs) == 5
        scheduler._worker.run_batch(jobs)   # on this thread: no worker
        outputs = [[out.audio[0] async for out in s.results()] for s in streams]
        return outputs, backend.sizes, scheduler.stats

    outputs, sizes, stats = run(main())
    assert outputs == [[0], [1], [2], [3], [4]]     # every request got its own chunk, none failed
    assert sizes == [5, 2, 3, 1, 2]                 # 5 -> 2 + 3 -> 3 = 1 + 2
    assert stats.oom_splits == 2 and stats.chunks_failed == 0 and stats.chunks_done == 5


def test_admission_by_estimated_work():
    async def main():
        scheduler = InferenceScheduler(4, lookahead=2, max_queue_wait_s=2.0, throughput_prior=100.0)
        backend = LabelBackend()
        scheduler.open_stream(backend, seed=1, estimated_tokens=1000)   # an empty server takes anything
        with pytest.raises(Overloaded) as big:
            scheduler.open_stream(backend, estimated_tokens=500)         # would wait min(1000, 400) / 100 = 4 s
        scheduler.open_stream(backend, estimated_tokens=100)             # 1 s
        scheduler.open_stream(backend, estimated_tokens=100)             # 2 s: not over the bound
        with pytest.raises(Overloaded) as more:
            scheduler.open_stream(backend, estimated_tokens=150)         # first chunks 3 x 100, then 50 + 2 x 50: 4.5 s
        scheduler.open_stream(backend, estimated_tokens=1)               # 0.03 s: fits, and fills the 4 slots
        with pytest.raises(Overloaded) as full:
            scheduler.open_stream(backend, estimated_tokens=1)
        return big.value, more.value, full.value, scheduler.stats

    big, more, full, stats = run(main())
    assert big.code == more.code == "wait_too_long" and http_error(big).status_code == 429
    assert http_error(big).headers["Retry-After"] == "2"        # ceil(4 - 2)
    assert http_error(more).headers["Retry-After"] == "3"       # ceil(4.5 - 2)
    assert full.code == "queue_full" and int(http_error(full).headers["Retry-After"]) >= 1
    assert stats.rejections == {"queue_full": 1, "wait_too_long": 2}
    assert stats.active_streams == 4


def test_a_long_request_is_admitted_beside_another_long_one():
    """Admission bounds the wait for a request's start (its first START_HORIZON_TOKENS), not its length."""
    from api.src.inference.scheduler import START_HORIZON_TOKENS

    async def main():
        scheduler = InferenceScheduler(8, lookahead=2, max_queue_wait_s=5.0, throughput_prior=100.0)
        backend = LabelBackend()
        scheduler.open_stream(backend, estimated_tokens=200_000)           # a chapter
        scheduler.open_stream(backend, estimated_tokens=200_000)           # another: waits 4 s to start
        with pytest.raises(Overloaded) as third:
            scheduler.open_stream(backend, estimated_tokens=200_000)       # 8 s: refused
        return third.value

    assert START_HORIZON_TOKENS == 400
    assert http_error(run(main())).headers["Retry-After"] == "3"   # ceil(800 / 100 - 5)


def test_long_requests_leave_half_of_the_places_to_short_ones():
    """MAX_ACTIVE_REQUESTS long requests cannot take every place: past half of it a long one is
    refused (queue_full, Retry-After from when the soonest long one is near its end) while a short one is
    admitted, and its wait counts only the first chunks still waiting to run, not the chapters in turn."""
    from api.src.inference.scheduler.admission import long_slots

    async def main():
        scheduler = InferenceScheduler(10, lookahead=2, max_queue_wait_s=30.0, throughput_prior=100.0)
        backend = LabelBackend()
        chapters = [scheduler.open_stream(backend, estimated_tokens=20_000 + k) for k in range(5)]
        for lane in scheduler._queue.lanes():
            lane.started = True                                         # each is reading its chapter
        with pytest.raises(Overloaded) as long:
            scheduler.open_stream(backend, estimated_tokens=5_000)
        waits = [scheduler.admission.predicted_wait(scheduler._queue.lanes(), 30)]
        scheduler.open_stream(backend, estimated_tokens=30)             # a short one: admitted
        waits.append(scheduler.admission.predicted_wait(scheduler._queue.lanes(), 30))
        for _ in range(4):
            scheduler.open_stream(backend, estimated_tokens=30)
        with pytest.raises(Overloaded) as full:
            scheduler.open_stream(backend, estimated_tokens=30)         # the hard cap still holds
        chapters[0].close()
        scheduler.open_stream(backend, estimated_tokens=5_000)          # a long place came back
        return long.value, full.value, waits

    long, full, waits = run(main())
    assert [long_slots(n) for n in (1, 2, 3, 4, 5, 10, 64)] == [1, 2, 3, 2, 3, 5, 32]
    assert long.code == "queue_full" and "long requests" in str(long)
    # the soonest long one (20000 left) gets to its last 400 after 19600 of its own and as much of each other
    assert http_error(long).headers["Retry-After"] == str(math.ceil(5 * 19_600 / 100))
    assert waits == [0.0, 0.3]           # nothing ahead of a first chunk but the other short one's
    assert full.code == "queue_full" and "busy with 10 requests" in str(full)


def test_throughput_estimate_follows_measurements():
    from api.src.inference.scheduler import ThroughputEstimate, resolve_batch_size

    estimate = ThroughputEstimate(prior_tokens_per_s=100.0)
    assert estimate.tokens_per_s == 100.0
    estimate.add(10, 5.0)                      # the first forward (one-time costs) is not a measurement
    assert estimate.tokens_per_s == 100.0
    estimate.add(2000, 1.0)                    # the next replaces the prior outright
    assert estimate.tokens_per_s == 2000.0
    for _ in range(40):
        estimate.add(500, 1.0)
    assert 499 < estimate.tokens_per_s < 501
    assert resolve_batch_size(0, "cpu") == 1 and resolve_batch_size(0, "cuda") == 16
    assert resolve_batch_size(4, "cpu") == 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="HALF_PRECISION is CUDA only")
def test_half_precision_batch_keeps_the_equivalence_contract():
    """HALF_PRECISION may stay on only while this holds on the GPU: durations identical, audio within 1e-4."""
    from api.src.builds import VERSIONS
    from api.src.inference.backend import KokoroBackend
    from api.src.inference.engines import apply_engine
    from api.src.inference.forward import BatchItem
    from api.src.tools.random_model import build_config, build_random_kmodel

    config = build_config("v1_0", "tiny")
    model = apply_engine(build_random_kmodel(config, seed=11, frames_per_phoneme=3.0).to("cuda").eval(), "torch-fp32")
    backend = KokoroBackend(VERSIONS["v1_0"], model, config, voices=None, device="cuda")
    ids = sorted(set(backend.vocab.values()) - {0})
    rng = torch.Generator().manual_seed(4)
    items = [BatchItem([ids[k] for k in torch.randint(len(ids), (n,), generator=rng).tolist()],
                       torch.randn(1, 256, generator=rng) * 0.1, 1.0, 50 + n) for n in (30, 90, 7)]
    for item, out in zip(items, backend.infer_batch(items, half=True)):
        alone = reference_chunk(backend.model, item.input_ids, item.ref_s, item.speed, item.seed)
        np.testing.assert_array_equal(out.pred_dur, alone.pred_dur)
        assert float(np.abs(out.audio - alone.audio).max()) <= 1e-4
