"""The one place model code runs: a bounded set of request streams served by an inference thread.

Each request opens a ``SynthesisStream``, submits its chunks in order and iterates its own results
in order. The worker thread picks the next chunk with a fixed policy: the first chunk of a request
that has no audio yet goes first (oldest request first), otherwise requests take turns round-robin,
so a book-length request cannot starve a short one. Each stream may have at most ``lookahead`` chunks
queued or finished-but-unread, which bounds memory per request and lets a slow reader hold back only
its own work. Closing a stream (client gone) drops its queued chunks at once.

This module is the seam where cross-request batching goes: ``_take_jobs`` picks what runs next.
"""
import asyncio
import itertools
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Optional

import torch
from loguru import logger

from ..core.errors import Overloaded
from .backend import ChunkOutput, KokoroBackend

_SEED_MASK = 2**63 - 1
_GOLDEN = 0x9E3779B97F4A7C15


def chunk_seed(request_seed: int, index: int) -> int:
    """A distinct, reproducible seed for each chunk of a request."""
    return (request_seed + index * _GOLDEN) & _SEED_MASK


def new_seed() -> int:
    return secrets.randbits(63)


@dataclass
class ChunkJob:
    stream: "SynthesisStream"
    index: int
    input_ids: list[int]
    ref_s: torch.Tensor
    speed: float
    seed: int
    fault: Optional[str] = None   # test hook (FAULT_INJECTION): "chunk" fails it, "worker" kills the thread


@dataclass
class SchedulerStats:
    active_streams: int = 0
    queued_chunks: int = 0
    chunks_done: int = 0
    chunks_failed: int = 0
    chunks_dropped: int = 0
    streams_rejected: int = 0
    worker_restarts: int = 0
    slow_readers_cut: int = 0


class StreamClosed(Exception):
    """The stream was closed (client gone or server stopping) before its work finished."""


class WorkerRestarted(RuntimeError):
    """The inference worker died while running this request's chunk; a new worker serves the rest."""


class SlowReader(RuntimeError):
    """The client stopped reading its audio for longer than the server waits."""


class _InjectedCrash(BaseException):
    """Escapes the worker's per-chunk error handling on purpose (FAULT_INJECTION tests)."""


class SynthesisStream:
    """One request's ordered flow of chunks through the scheduler. Use from the event loop only."""

    def __init__(self, scheduler: "InferenceScheduler", backend: KokoroBackend, lookahead: int, seed: int):
        self.id = next(scheduler._ids)
        self.backend = backend
        self.seed = seed
        self._scheduler = scheduler
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(lookahead)
        self._results: dict[int, object] = {}
        self._ready = asyncio.Event()
        self._submitted = 0
        self._next_out = 0
        self._ended = False
        self._close_reason: Optional[BaseException] = None
        self.unread_since: Optional[float] = None   # when audio became ready that the reader has not taken
        self.closed = False
        self.pending: deque[ChunkJob] = deque()   # guarded by the scheduler's lock
        self.started = False                       # a chunk of it has run (guarded by the lock)

    async def submit(self, input_ids: list[int], ref_s: torch.Tensor, speed: float,
                     fault: Optional[str] = None, seed_index: Optional[int] = None) -> None:
        """Queue the next chunk; waits while this stream already has ``lookahead`` chunks in hand.

        The chunk's noise seed derives from the request seed and ``seed_index`` (default: the
        submission index), so a caller that skips chunks (served from a cache) keeps the others' seeds.
        """
        await self._slots.acquire()
        if self.closed:
            self._slots.release()
            raise StreamClosed()
        index = self._submitted if seed_index is None else seed_index
        job = ChunkJob(self, self._submitted, input_ids, ref_s, speed, chunk_seed(self.seed, index), fault)
        self._submitted += 1
        self._scheduler._enqueue(job)

    def end_input(self) -> None:
        """No more chunks will be submitted."""
        self._ended = True
        self._ready.set()

    def fail(self, exc: BaseException) -> None:
        """Deliver an error to the reader after the chunks already submitted."""
        self._results[self._submitted] = exc
        self._ended = True
        self._ready.set()

    def _deliver(self, index: int, result: object) -> None:
        if self.closed:
            return
        self._results[index] = result
        if self.unread_since is None:
            self.unread_since = time.monotonic()
        self._ready.set()

    async def results(self, deadline: Optional[float] = None) -> AsyncIterator[ChunkOutput]:
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
        self._scheduler._remove(self)


class InferenceScheduler:
    """Owns the inference thread and the queue of chunk jobs from all open streams."""

    def __init__(self, max_active_streams: int, lookahead: int, slow_reader_timeout: float = 60.0):
        self.max_active_streams = max_active_streams
        self.lookahead = lookahead
        self.slow_reader_timeout = slow_reader_timeout
        self.stats = SchedulerStats()
        self._streams: OrderedDict[int, SynthesisStream] = OrderedDict()   # arrival order
        self._turns: deque[int] = deque()                                  # round-robin order
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._thread: Optional[threading.Thread] = None
        self._running = False
        self._in_flight: list[ChunkJob] = []   # what the worker is running now (guarded by the lock)
        self._chunk_seconds = 0.5   # moving average of one forward, for Retry-After estimates

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._running = True
        self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._work, name="inference", daemon=True)
        self._thread.start()

    async def supervise(self, interval: float = 0.25) -> None:
        """Run on the event loop while serving: restarts a dead worker and cuts off slow readers."""
        while self._running:
            await asyncio.sleep(interval)
            if self._running and not self.alive:
                self._restart_worker()
            now = time.monotonic()
            for stream in list(self._streams.values()):
                if stream.unread_since is not None and now - stream.unread_since > self.slow_reader_timeout:
                    self.stats.slow_readers_cut += 1
                    stream.close(SlowReader(f"the client read no audio for {self.slow_reader_timeout:g} s"))

    def _restart_worker(self) -> None:
        """The requests whose chunks died with the worker fail; queued work goes to a new worker."""
        with self._cond:
            lost, self._in_flight = self._in_flight, []
        for job in lost:
            job.stream._deliver(job.index, WorkerRestarted("the inference worker died while running this request"))
        self.stats.worker_restarts += 1
        logger.error("inference worker died; restarting it ({} requests failed)", len(lost))
        self._start_thread()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            for stream in list(self._streams.values()):
                stream.pending.clear()
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    # -- admission -------------------------------------------------------------------------------
    def open_stream(self, backend: KokoroBackend, seed: Optional[int] = None) -> SynthesisStream:
        """Admit a request, or raise Overloaded (429) with a Retry-After from the queued work."""
        with self._cond:
            if len(self._streams) >= self.max_active_streams:
                self.stats.streams_rejected += 1
                queued = max(1, sum(len(s.pending) for s in self._streams.values()))
                raise Overloaded(
                    f"the server is busy with {len(self._streams)} requests; retry later",
                    retry_after=math.ceil(queued * self._chunk_seconds))
            stream = SynthesisStream(self, backend, self.lookahead, new_seed() if seed is None else seed)
            self._streams[stream.id] = stream
            self._turns.append(stream.id)
            self.stats.active_streams = len(self._streams)
            return stream

    def _enqueue(self, job: ChunkJob) -> None:
        with self._cond:
            if job.stream.closed or not self._running:
                return
            job.stream.pending.append(job)
            self.stats.queued_chunks += 1
            self._cond.notify()

    def _remove(self, stream: SynthesisStream) -> None:
        with self._cond:
            dropped = len(stream.pending)
            stream.pending.clear()
            self.stats.queued_chunks -= dropped
            self.stats.chunks_dropped += dropped
            self._streams.pop(stream.id, None)
            try:
                self._turns.remove(stream.id)
            except ValueError:
                pass
            self.stats.active_streams = len(self._streams)

    # -- the worker ------------------------------------------------------------------------------
    def _take_jobs(self) -> list[ChunkJob]:
        """Next job(s) to run, under the lock: new requests' first chunks first, then round-robin."""
        for stream in self._streams.values():
            if not stream.started and stream.pending:
                return [stream.pending.popleft()]
        for _ in range(len(self._turns)):
            stream_id = self._turns[0]
            self._turns.rotate(-1)
            stream = self._streams[stream_id]
            if stream.pending:
                return [stream.pending.popleft()]
        return []

    def _work(self) -> None:
        while True:
            with self._cond:
                jobs = self._take_jobs()
                while not jobs and self._running:
                    self._cond.wait()
                    jobs = self._take_jobs()
                if not self._running:
                    return
                for job in jobs:
                    job.stream.started = True
                self.stats.queued_chunks -= len(jobs)
                self._in_flight = jobs
            for job in jobs:
                self._run(job)
            with self._cond:
                self._in_flight = []

    def _run(self, job: ChunkJob) -> None:
        began = time.perf_counter()
        try:
            if job.fault == "worker":
                raise _InjectedCrash()
            if job.fault == "chunk":
                raise RuntimeError("injected fault in this chunk")
            torch.manual_seed(job.seed)
            result: object = job.stream.backend.infer(job.input_ids, job.ref_s, job.speed)
            self.stats.chunks_done += 1
        except Exception as exc:  # a failed chunk fails its own request only
            logger.opt(exception=exc).error("chunk {} of stream {} failed", job.index, job.stream.id)
            self.stats.chunks_failed += 1
            result = exc
        self._chunk_seconds = 0.8 * self._chunk_seconds + 0.2 * (time.perf_counter() - began)
        try:
            job.stream._loop.call_soon_threadsafe(job.stream._deliver, job.index, result)
        except RuntimeError:  # the loop is gone: the server is shutting down
            pass
