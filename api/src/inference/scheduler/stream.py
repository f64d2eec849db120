"""One request's queue of chunks and its lifecycle: ``SynthesisStream`` and the errors its reader gets.

A request submits its chunks in order (``submit``, waiting while it already has ``lookahead`` chunks
queued or finished-but-unread, which bounds memory per request and lets a slow reader hold back only
its own work), says when input ends (``end_input``) and iterates its own results in order
(``results``). ``close`` (client gone, server stopping) drops its queued chunks at once and wakes the
reader with the close reason. The reader side runs on the event loop only; the worker thread hands
results over with ``deliver_threadsafe``.

A stream knows its queue only as a ``ChunkSink`` (the ``ChunkQueue`` is one): it hands chunks in and
leaves. Its fields are its own and change on the event loop only; what lives under the queue's lock
(queued chunks, whether one ran, phonemes queued and done) is the queue's own record of the stream.
"""
import asyncio
import time
from dataclasses import dataclass
from typing import AsyncGenerator, Optional, Protocol, Union

import torch

from ..backend import ChunkOutput, KokoroBackend
from .seeds import chunk_seed
from .stats import SchedulerStats

# What a chunk comes back as: its audio, or the exception that failed it (delivered to its reader).
ChunkResult = Union[ChunkOutput, BaseException]


class StreamClosed(Exception):
    """The stream was closed (client gone or server stopping) before its work finished."""


class WorkerRestarted(RuntimeError):
    """The inference worker died while running this request's chunk; a new worker serves the rest."""


class SlowReader(RuntimeError):
    """The client stopped reading its audio for longer than the server waits."""


@dataclass
class ChunkJob:
    """One chunk on its way through the scheduler."""

    stream: "SynthesisStream"
    index: int
    input_ids: list[int]
    ref_s: torch.Tensor
    speed: float
    seed: int
    seq: int = 0                  # global arrival order (the fifo policy)
    enqueued_at: float = 0.0      # time.monotonic() when queued (BATCH_WAIT_MS counts from it)

    @property
    def tokens(self) -> int:
        return len(self.input_ids)


class ChunkSink(Protocol):
    """Where a stream's chunks go (``ChunkQueue``): it takes them in order and forgets a stream that leaves."""

    def enqueue(self, job: ChunkJob) -> None: ...

    def remove(self, stream: "SynthesisStream") -> None: ...


class SynthesisStream:
    """One request's ordered flow of chunks through the scheduler. Use from the event loop only."""

    def __init__(self, queue: ChunkSink, stream_id: int, backend: KokoroBackend, lookahead: int, seed: int,
                 stats: SchedulerStats):
        self.id = stream_id
        self.opened_at = time.monotonic()
        self._first_audio_seen = False
        self._stats = stats
        self.backend = backend
        self.seed = seed
        self._queue = queue
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(lookahead)
        self._results: dict[int, ChunkResult] = {}
        self._ready = asyncio.Event()
        self._submitted = 0
        self._next_out = 0
        self._ended = False
        self._close_reason: Optional[BaseException] = None
        self.unread_since: Optional[float] = None   # when audio became ready that the reader has not taken
        self.closed = False

    async def submit(self, input_ids: list[int], ref_s: torch.Tensor, speed: float,
                     seed_index: Optional[int] = None) -> None:
        """Queue the next chunk; waits while this stream already has ``lookahead`` chunks in hand.

        The chunk's noise seed derives from the request seed and ``seed_index`` (default: the
        submission index), so a caller that skips chunks (served from a cache) keeps the others' seeds.
        """
        await self._slots.acquire()
        if self.closed:
            self._slots.release()
            raise StreamClosed()
        index = self._submitted if seed_index is None else seed_index
        job = ChunkJob(self, self._submitted, input_ids, ref_s, speed, chunk_seed(self.seed, index))
        self._submitted += 1
        self._queue.enqueue(job)

    def end_input(self) -> None:
        """No more chunks will be submitted."""
        self._ended = True
        self._ready.set()

    def fail(self, exc: BaseException) -> None:
        """Deliver an error to the reader after the chunks already submitted."""
        self._results[self._submitted] = exc
        self._ended = True
        self._ready.set()

    @property
    def input_ended(self) -> bool:
        """No more chunks will come (``end_input`` or ``fail``)."""
        return self._ended

    def deliver(self, index: int, result: ChunkResult) -> None:
        """Scheduler side, on the event loop: chunk ``index``'s output or exception is ready."""
        if self.closed:
            return
        if not self._first_audio_seen and isinstance(result, ChunkOutput):
            self._first_audio_seen = True
            self._stats.time_to_first_audio.observe(time.monotonic() - self.opened_at)
        self._results[index] = result
        if self.unread_since is None:
            self.unread_since = time.monotonic()
        self._ready.set()

    def deliver_threadsafe(self, index: int, result: ChunkResult) -> None:
        """``deliver`` from another thread (the worker); nothing happens once the loop is gone."""
        try:
            self._loop.call_soon_threadsafe(self.deliver, index, result)
        except RuntimeError:  # the loop is gone: the server is shutting down
            pass

    async def results(self, deadline: Optional[float] = None) -> AsyncGenerator[ChunkOutput, None]:
        """Each chunk's output in submission order; raises the first chunk error.

        ``deadline`` (event-loop time) bounds the whole iteration: past it, TimeoutError.
        """
        while True:
            if self._next_out in self._results:
                result = self._results.pop(self._next_out)
                self._next_out += 1
                self.unread_since = time.monotonic() if self._results else None
                self._slots.release()
                if isinstance(result, BaseException):
                    raise result
                yield result
                continue
            if self.closed:
                raise self._close_reason or StreamClosed()
            if self._ended and self._next_out >= self._submitted:
                return
            self._ready.clear()
            if deadline is None:
                await self._ready.wait()
            else:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - self._loop.time()))

    def close(self, reason: Optional[BaseException] = None) -> None:
        """Drop queued chunks and leave the scheduler; idempotent. ``reason`` is what the reader gets."""
        if self.closed:
            return
        self.closed = True
        self._close_reason = reason
        self._ready.set()
        self._queue.remove(self)
