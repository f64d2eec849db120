"""SynthesisEngine: a plan in, its items back in plan order with audio, on the real scheduler and chunk
cache, with a stand-in backend that records what the model was asked."""
import asyncio
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from api.src.core.exceptions import InvalidRequest, Overloaded
from api.src.inference.backend import ChunkOutput
from api.src.inference.chunk_cache import ChunkCache
from api.src.inference.engine import SynthesisEngine
from api.src.inference.model_manager import ModelLease
from api.src.inference.scheduler import InferenceScheduler, chunk_seed

VOCAB = {c: i + 1 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")}


class Backend:
    """Ids are letters; each chunk's 'audio' is [first id, seed, style row], so the test can read what ran."""

    device = "cpu"
    version = "v1_0"
    vocab = VOCAB

    def __init__(self):
        self.ran: list[tuple[list[int], int, float]] = []

    def token_ids(self, phonemes):
        return [VOCAB[p] for p in phonemes if p in VOCAB]

    def style(self, pack, n_tokens):
        return pack[min(n_tokens, pack.shape[0] - 1)]

    def infer_seeded(self, input_ids, ref_s, speed, seed):
        self.ran.append((list(input_ids), seed, speed))
        return ChunkOutput(np.array([input_ids[0], seed, float(ref_s.flatten()[0])]), np.array([1, 1]))


@dataclass(frozen=True)
class Chunk:
    phonemes: str
    pack: torch.Tensor
    speed: float = 1.0


@dataclass(frozen=True)
class Pause:
    seconds: float


class CountingLease(ModelLease):
    """A borrowed lease that counts its releases."""

    def __init__(self, backend):
        super().__init__(None, backend.version, backend)
        self.releases = 0

    def release(self):
        self.releases += 1


PACK = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1)


def engine_with(cache_bytes=0, max_streams=8):
    scheduler = InferenceScheduler(max_streams, lookahead=2)
    return scheduler, SynthesisEngine(scheduler, ChunkCache(cache_bytes))


async def collect(synthesis):
    return [(r.item, None if r.output is None else r.output.audio.tolist()) async for r in synthesis.chunks()]


def test_items_come_back_in_plan_order_with_their_audio():
    async def main():
        scheduler, engine = engine_with()
        scheduler.start()
        try:
            backend = Backend()
            plan = [Pause(0.5), Chunk("abc", PACK), Chunk("123", PACK), Pause(1.0), Chunk("xy", PACK, 1.5)]
            synthesis = await engine.synthesize(CountingLease(backend), iter(plan), seed=42).start()
            results = await collect(synthesis)
            synthesis.close()
            return backend, results, synthesis
        finally:
            scheduler.stop()

    backend, results, synthesis = asyncio.run(main())
    # the chunk with no id ("123") is skipped; pauses pass through in their places
    assert [item for item, _ in results] == [Pause(0.5), Chunk("abc", PACK), Pause(1.0), Chunk("xy", PACK, 1.5)]
    assert results[0][1] is None and results[2][1] is None
    # ids, the style row the backend picks for the chunk's length, each chunk's seed from its spoken index
    assert [results[1][1][0], results[1][1][2]] == [1, 3.0] and [results[3][1][0], results[3][1][2]] == [24, 2.0]
    assert [(seed, speed) for _, seed, speed in backend.ran] == [(chunk_seed(42, 0), 1.0), (chunk_seed(42, 1), 1.5)]
    assert (synthesis.tokens, synthesis.chunk_count, synthesis.cache_hits) == (5, 2, 0)
    assert synthesis.lease.releases == 1 and synthesis.seed == 42


def test_a_plan_with_nothing_to_say_is_refused_and_its_lease_released():
    async def main():
        scheduler, engine = engine_with()
        scheduler.start()
        try:
            lease = CountingLease(Backend())
            with pytest.raises(InvalidRequest) as info:
                await engine.synthesize(lease, iter([Pause(1.0), Chunk("...", PACK)]), seed=1).start()
            return info.value, lease, scheduler.stats.active_streams
        finally:
            scheduler.stop()

    error, lease, open_streams = asyncio.run(main())
    assert error.code == "unspeakable_input" and lease.releases == 1 and open_streams == 0


def test_admission_refusal_releases_the_lease():
    async def main():
        scheduler, engine = engine_with(max_streams=1)
        scheduler.start()
        try:
            first = await engine.synthesize(CountingLease(Backend()), iter([Chunk("ab", PACK)]), seed=1).start()
            lease = CountingLease(Backend())
            with pytest.raises(Overloaded):
                await engine.synthesize(lease, iter([Chunk("cd", PACK)]), seed=2).start()
            first.close()
            return lease
        finally:
            scheduler.stop()

    assert asyncio.run(main()).releases == 1


def test_seeded_chunks_come_from_the_cache_the_second_time():
    async def main():
        scheduler, engine = engine_with(cache_bytes=1 << 20)
        scheduler.start()
        try:
            backend = Backend()
            plan = [Chunk("abc", PACK), Chunk("de", PACK)]
            first = await engine.synthesize(CountingLease(backend), iter(plan), seed=7).start()
            a = await collect(first)
            second = await engine.synthesize(CountingLease(backend), iter(plan), seed=7).start()
            b = await collect(second)
            other_seed = await engine.synthesize(CountingLease(backend), iter(plan), seed=8).start()
            await collect(other_seed)
            uncached = await engine.synthesize(CountingLease(backend), iter(plan), seed=7, use_cache=False).start()
            await collect(uncached)
            return backend, a, b, second
        finally:
            scheduler.stop()

    backend, a, b, second = asyncio.run(main())
    assert a == b and second.cache_hits == 2 and second.chunk_count == 2
    assert len(backend.ran) == 6   # first, another seed, and without the cache: 2 chunks each


def test_close_mid_way_stops_the_plan_and_releases_the_lease():
    read = []

    def plan():
        for letter in "abcdefghij":
            read.append(letter)
            yield Chunk(letter * 3, PACK)

    async def main():
        scheduler, engine = engine_with()
        scheduler.start()
        try:
            lease = CountingLease(Backend())
            synthesis = await engine.synthesize(lease, plan(), seed=3).start()
            chunks = synthesis.chunks()
            await chunks.__anext__()
            synthesis.close()
            await chunks.aclose()
            await asyncio.sleep(0.2)
            return lease, scheduler.stats.active_streams
        finally:
            scheduler.stop()

    lease, open_streams = asyncio.run(main())
    assert lease.releases == 1 and open_streams == 0
    assert len(read) < 10   # the lookahead bounds how far the plan was read


def test_the_servers_own_work_is_never_refused_at_the_cap():
    """A warm-up (admit=False) runs while requests hold every slot; a request at the cap is refused."""
    async def main():
        scheduler, engine = engine_with(max_streams=1)
        scheduler.start()
        try:
            held = await engine.synthesize(CountingLease(Backend()), iter([Chunk("ab", PACK)]), seed=1).start()
            with pytest.raises(Overloaded):
                await engine.synthesize(CountingLease(Backend()), iter([Chunk("cd", PACK)]), seed=2).start()
            own = await engine.synthesize(CountingLease(Backend()), iter([Chunk("ef", PACK)]), seed=3,
                                          admit=False).start()
            results = await collect(own)
            held.close()
            own.close()
            return results
        finally:
            scheduler.stop()

    assert [item for item, _ in asyncio.run(main())] == [Chunk("ef", PACK)]
