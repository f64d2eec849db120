"""The one interface serving code uses to turn planned chunks into audio: ``SynthesisEngine``.

``engine.synthesize(lease, plan, seed=...)`` returns a ``Synthesis`` of one request. Its ``start()``
admits the request (the scheduler's 429s) and reads the plan up to the first chunk that says
something, so every refusal comes before a byte is sent; ``chunks()`` then yields one ``ChunkAudio``
per plan item, in plan order; ``close()`` (idempotent) drops what is still queued and ends the lease.

Everything between phonemes and audio is the engine's: token ids, the version's style-row rule, each
chunk's noise seed, the chunk cache, the scheduler stream, and the model lease (held from before the
request's text was read until ``close``, so no unload frees the version under it). The plan is a plain
iterator whose ``next`` may be slow (G2P), so it is read in a worker thread while earlier chunks are
synthesized. Items with ``phonemes``, ``pack`` and ``speed`` (``SpokenChunk``) are spoken; an item of
any other kind (a pause) passes through in its place; a chunk whose phonemes map to no id is skipped.
"""
import asyncio
from dataclasses import dataclass
from typing import AsyncGenerator, Generic, Hashable, Iterator, Optional, Protocol, TypeVar, runtime_checkable

import anyio
from loguru import logger

from ..core.exceptions import InvalidRequest
from .backend import ChunkOutput, KokoroBackend
from .chunk_cache import ChunkCache
from .model_manager import ModelLease
from .scheduler import InferenceScheduler, StreamClosed, SynthesisStream, chunk_seed

T = TypeVar("T")


@runtime_checkable
class SpokenChunk(Protocol):
    """A plan item the engine speaks: phonemes of the leased version, a voice pack, a pace."""

    @property
    def phonemes(self) -> str: ...

    @property
    def pack(self): ...      # torch.Tensor [rows, 1, 256]

    @property
    def speed(self) -> float: ...


@dataclass(frozen=True)
class ChunkAudio(Generic[T]):
    """One plan item's result: ``output`` is its audio and durations, None for an item passed through."""

    item: T
    output: Optional[ChunkOutput]


@dataclass(frozen=True)
class _Submitted(Generic[T]):
    """A chunk on its way: its cache key, and its cached audio when the cache had it."""

    item: T
    key: Optional[Hashable]
    cached: Optional[ChunkOutput]


class Synthesis(Generic[T]):
    """One request's chunks through the scheduler (or the cache), audio back in plan order.

    Counters, for usage and logs: ``tokens`` (phoneme ids submitted), ``chunk_count`` (chunks spoken),
    ``cache_hits`` (of those, served from the cache).
    """

    def __init__(self, lease: ModelLease, scheduler: InferenceScheduler, cache: Optional[ChunkCache],
                 plan: Iterator[T], seed: Optional[int], estimated_tokens: int, admit: bool = True):
        self.lease = lease
        self.backend: KokoroBackend = lease.backend
        self._scheduler, self._cache, self._plan = scheduler, cache, plan
        self._requested_seed = seed
        self._estimated_tokens = estimated_tokens
        self._admit = admit
        self._stream: Optional[SynthesisStream] = None
        self._order: asyncio.Queue = asyncio.Queue()
        self._feeder: Optional[asyncio.Task] = None
        self._closed = False
        self.tokens = 0
        self.chunk_count = 0
        self.cache_hits = 0

    @property
    def seed(self) -> int:
        """The request's seed: the one it asked for, else one the scheduler drew (after ``start``)."""
        if self._stream is not None:
            return self._stream.seed
        if self._requested_seed is None:
            raise RuntimeError("an unseeded synthesis has no seed before start(): the scheduler draws it")
        return self._requested_seed

    @property
    def _started(self) -> SynthesisStream:
        """The scheduler stream ``start`` opened; RuntimeError before that."""
        if self._stream is None:
            raise RuntimeError("Synthesis.start() has not run: there is no stream yet")
        return self._stream

    @property
    def seeded(self) -> bool:
        return self._requested_seed is not None

    def _ids(self, item: T) -> Optional[list[int]]:
        """The item's token ids when it is a chunk that says something; None for anything else."""
        if not isinstance(item, SpokenChunk):
            return None
        return self.backend.token_ids(item.phonemes) or None

    async def start(self) -> "Synthesis[T]":
        """Admit the request and read the plan up to its first spoken chunk; raises what refuses it
        (Overloaded, a text error from the plan, InvalidRequest when nothing in it can be spoken) after
        closing this synthesis."""
        try:
            self._stream = self._scheduler.open_stream(self.backend, self._requested_seed,
                                                       estimated_tokens=self._estimated_tokens, admit=self._admit)
            head = []
            while True:
                item = await anyio.to_thread.run_sync(next, self._plan, None)
                if item is None:
                    raise InvalidRequest("input has no speakable text", param="input", code="unspeakable_input")
                head.append(item)
                if self._ids(item) is not None:
                    break
        except BaseException:
            self.close()
            raise
        self._feeder = asyncio.create_task(self._feed(head))
        return self

    def _items(self, head: list[T]) -> Iterator[T]:
        yield from head
        yield from self._plan

    async def _feed(self, head: list[T]) -> None:
        items = self._items(head)
        index = 0   # position among spoken chunks: the chunk's seed derives from it
        try:
            while (item := await anyio.to_thread.run_sync(next, items, None)) is not None:
                if not isinstance(item, SpokenChunk):
                    self._order.put_nowait(item)
                    continue
                ids = self._ids(item)
                if ids is None:
                    continue
                key = cached = None
                if self._cache is not None:
                    seed = chunk_seed(self.seed, index) if self.seeded else None
                    key = self._cache.key(self.backend.version, item.phonemes, item.pack, item.speed, seed)
                    cached = self._cache.get(key)
                if cached is None:
                    await self._started.submit(ids, self.backend.style(item.pack, len(ids)), item.speed,
                                              seed_index=index)
                else:
                    self.cache_hits += 1
                self._order.put_nowait(_Submitted(item, key, cached))
                self.tokens += len(ids)
                self.chunk_count += 1
                index += 1
            self._started.end_input()
        except StreamClosed:
            pass
        except Exception as exc:
            logger.opt(exception=exc).error("text processing failed")
            self._started.fail(exc)
        finally:
            self._order.put_nowait(None)

    async def chunks(self, deadline: Optional[float] = None) -> AsyncGenerator[ChunkAudio[T], None]:
        """Each plan item's ``ChunkAudio`` in plan order; raises the error that failed the request, or
        TimeoutError past ``deadline`` (event-loop time). Call after ``start``, once."""
        loop = asyncio.get_running_loop()
        results = self._started.results(deadline)
        try:
            while True:
                if deadline is None:
                    entry = await self._order.get()
                else:
                    entry = await asyncio.wait_for(self._order.get(), max(0.0, deadline - loop.time()))
                if entry is None:
                    async for _ in results:   # nothing is left but a failure, if there was one
                        pass
                    return
                if not isinstance(entry, _Submitted):
                    yield ChunkAudio(entry, None)
                    continue
                output = entry.cached or await results.__anext__()
                if entry.cached is None and self._cache is not None:
                    self._cache.put(entry.key, output)
                yield ChunkAudio(entry.item, output)
        finally:
            await results.aclose()

    def close(self) -> None:
        """Stop reading the plan, drop queued chunks, end the lease (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._feeder is not None and not self._feeder.done():
            self._feeder.cancel()
        if self._stream is not None:
            self._stream.close()
        self.lease.release()


class SynthesisEngine:
    """Speaks plans on the scheduler's inference thread, through the chunk cache (``CHUNK_CACHE_MB``)."""

    def __init__(self, scheduler: InferenceScheduler, cache: Optional[ChunkCache] = None):
        self.scheduler = scheduler
        self.cache = cache

    def synthesize(self, lease: ModelLease, plan: Iterator[T], *, seed: Optional[int] = None,
                   estimated_tokens: int = 0, use_cache: bool = True, admit: bool = True) -> Synthesis[T]:
        """A ``Synthesis`` of ``plan`` by the leased version, which it now owns (``close`` ends it).

        ``seed``: the request's seed (None: the scheduler draws one, and cached audio of any earlier
        unseeded rendering may be reused). ``estimated_tokens``: the request's phonemes as far as known,
        for admission (0: unknown). ``admit=False``: never refused (the server's own warm-up, which
        requests for the version wait for); ``use_cache=False``: every chunk runs the model.
        """
        return Synthesis(lease, self.scheduler, self.cache if use_cache else None, plan, seed, estimated_tokens,
                         admit)
