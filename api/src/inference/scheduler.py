"""The one place model code runs: a bounded set of request streams served by an inference thread.

Each request opens a ``SynthesisStream``, submits its chunks in order and iterates its own results
in order. The worker thread picks the next chunk with a fixed policy: the first chunk of a request
that has no audio yet goes first (oldest request first), otherwise requests take turns round-robin,
so a book-length request cannot starve a short one. Each stream may have at most ``lookahead`` chunks
queued or finished-but-unread, which bounds memory per request and lets a slow reader hold back only
its own work. Closing a stream (client gone) drops its queued chunks at once.

Batching: the worker takes up to ``max_batch_size`` chunks of the same backend (at most
``max_batch_tokens`` padded phonemes) that are ready within ``batch_wait_ms`` of the oldest one, and
runs them through one batched forward, each item with its own seed. First chunks of new requests are
always taken first and never left out for length reasons; later chunks join only while the padding
stays under ``max_padding``. A batch of one runs the exact one-chunk path (same bytes for a seed).
Policy ``fifo`` is the serial baseline other Kokoro servers use: chunks in arrival order.

Admission (``open_stream``): a hard cap on open requests, and a bound on estimated work. The
scheduler keeps a measured throughput (phonemes per second of worker time) and each request's
remaining work (its estimate, then what it really submitted, minus what ran). Under round-robin each
admitted request delays a new one by at most the smaller of their two works, so the predicted wait of a
request of W phonemes is ``sum(min(remaining_i, W)) / throughput``; past ``max_queue_wait_s`` it is
refused at once (429, Retry-After from the estimate). Admitted requests are never dropped for load.
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
from prometheus_client import Histogram

from ..core.errors import Overloaded
from . import memory
from .backend import SAMPLE_RATE, SAMPLES_PER_FRAME, ChunkOutput, KokoroBackend
from .batched import BatchItem

_SEED_MASK = 2**63 - 1
_GOLDEN = 0x9E3779B97F4A7C15


# Phonemes of a request's "start" for admission: a short first chunk and a full one after it.
START_HORIZON_TOKENS = 400


def chunk_seed(request_seed: int, index: int) -> int:
    """A distinct, reproducible seed for each chunk of a request."""
    return (request_seed + index * _GOLDEN) & _SEED_MASK


def new_seed() -> int:
    return secrets.randbits(63)


def resolve_batch_size(setting: int, device: str) -> int:
    """MAX_BATCH_SIZE: 0 means by device, 1 on CPU (batching does not pay on a few cores), 16 on CUDA."""
    if setting > 0:
        return setting
    return 16 if device == "cuda" else 1


def apply_gpu_memory_cap(device: str, fraction: float) -> None:
    """GPU_MEMORY_CAP_FRACTION: cap this process's share of the GPU (0 = no cap). No-op off CUDA."""
    if device == "cuda" and fraction > 0:
        torch.cuda.set_per_process_memory_fraction(fraction)
        logger.info("GPU memory capped at {:.0%} of the device for this process", fraction)


class ThroughputEstimate:
    """Phonemes per second of worker time, as a ratio of two moving averages (work-weighted, so many
    short chunks do not drag it down more than their share). Starts from a prior worth one batch."""

    def __init__(self, prior_tokens_per_s: float = 100.0, weight: float = 0.2):
        self._tokens = prior_tokens_per_s
        self._seconds = 1.0
        self._weight = weight
        self._measured = 0

    def add(self, tokens: int, seconds: float) -> None:
        if tokens <= 0 or seconds <= 0:
            return
        self._measured += 1
        if self._measured == 1:
            return   # the very first forward pays one-time costs (lazy init, first allocations)
        if self._measured == 2:
            # the prior is a placeholder: a real measurement (the start-up warm-up's) replaces it
            self._tokens, self._seconds = tokens, seconds
            return
        w = self._weight
        self._tokens = (1 - w) * self._tokens + w * tokens
        self._seconds = (1 - w) * self._seconds + w * seconds

    @property
    def tokens_per_s(self) -> float:
        return self._tokens / self._seconds


@dataclass
class ChunkJob:
    stream: "SynthesisStream"
    index: int
    input_ids: list[int]
    ref_s: torch.Tensor
    speed: float
    seed: int
    fault: Optional[str] = None   # test hook (FAULT_INJECTION): "chunk" fails it, "worker" kills the thread
    seq: int = 0                  # global arrival order (the fifo policy)
    enqueued_at: float = 0.0      # time.monotonic() when queued (BATCH_WAIT_MS counts from it)

    @property
    def tokens(self) -> int:
        return len(self.input_ids)


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
    running_streams: int = 0        # admitted requests a chunk of which has run
    rejections: dict = field(default_factory=lambda: {"queue_full": 0, "wait_too_long": 0})
    batches: int = 0
    oom_splits: int = 0
    audio_seconds: float = 0.0      # audio produced
    inference_seconds: float = 0.0  # worker time spent in forwards
    real_time_factor: float = 0.0   # moving average of forward time / audio time
    batch_size: Histogram = field(default_factory=lambda: Histogram(
        "kokoro_batch_size", "Chunks per forward", registry=None,
        buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)))
    padding_fraction: Histogram = field(default_factory=lambda: Histogram(
        "kokoro_batch_padding_fraction", "Share of padded phoneme slots per batched forward", registry=None,
        buckets=(0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)))
    time_to_first_audio: Histogram = field(default_factory=lambda: Histogram(
        "kokoro_time_to_first_audio_seconds", "From admission to the request's first chunk of audio",
        registry=None, buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60)))


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

    def __init__(self, scheduler: "InferenceScheduler", backend: KokoroBackend, lookahead: int, seed: int,
                 estimated_tokens: int = 0):
        self.id = next(scheduler._ids)
        self.opened_at = time.monotonic()
        self.estimated_tokens = estimated_tokens   # admission's guess of the whole request's phonemes
        self.submitted_tokens = 0                  # guarded by the scheduler's lock, like done_tokens
        self.done_tokens = 0
        self._first_audio_seen = False
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

    def remaining_tokens(self) -> int:
        """Phonemes still to synthesize: the estimate until input ends, then what was really submitted.

        Without an estimate, a request whose input has not ended counts one more default-sized chunk.
        """
        if self._ended:
            total = self.submitted_tokens
        elif self.estimated_tokens > 0:
            total = max(self.estimated_tokens, self.submitted_tokens)
        else:
            total = self.submitted_tokens + self._scheduler.default_estimate_tokens
        return max(0, total - self.done_tokens)

    def _deliver(self, index: int, result: object) -> None:
        if self.closed:
            return
        if not self._first_audio_seen and isinstance(result, ChunkOutput):
            self._first_audio_seen = True
            self._scheduler.stats.time_to_first_audio.observe(time.monotonic() - self.opened_at)
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
    """Owns the inference thread and the queue of chunk jobs from all open streams.

    The defaults (batch 1, fair policy, no work bound) are the plain one-chunk-at-a-time scheduler;
    the app passes the settings (MAX_BATCH_SIZE already resolved by ``resolve_batch_size``).
    """

    def __init__(self, max_active_streams: int, lookahead: int, slow_reader_timeout: float = 60.0, *,
                 max_batch_size: int = 1, max_batch_tokens: int = 4096, batch_wait_ms: float = 0.0,
                 max_padding: float = 0.3, max_queue_wait_s: float = 0.0, policy: str = "fair",
                 half_precision: bool = False, throughput_prior: float = 100.0,
                 default_estimate_tokens: int = 100):
        if policy not in ("fair", "fifo"):
            raise ValueError(f"unknown scheduling policy {policy!r}")
        self.max_active_streams = max_active_streams
        self.lookahead = lookahead
        self.slow_reader_timeout = slow_reader_timeout
        self.max_batch_size = max(1, max_batch_size)
        self.max_batch_tokens = max_batch_tokens
        self.batch_wait_s = batch_wait_ms / 1000.0
        self.max_padding = max_padding
        self.max_queue_wait_s = max_queue_wait_s     # 0: no bound by work, only the count cap
        self.policy = policy
        self.half_precision = half_precision
        self.default_estimate_tokens = default_estimate_tokens   # a request that brings no estimate
        self.throughput = ThroughputEstimate(throughput_prior)
        self.stats = SchedulerStats()
        self._seq = itertools.count()
        self._streams: OrderedDict[int, SynthesisStream] = OrderedDict()   # arrival order
        self._turns: deque[int] = deque()                                  # round-robin order
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._thread: Optional[threading.Thread] = None
        self._running = False
        self._in_flight: list[ChunkJob] = []   # what the worker is running now (guarded by the lock)

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

    def warm_up(self, backend: KokoroBackend) -> int:
        """Run the common batch shapes once (CUDA with batching only), so the first real batches do not
        pay for kernel selection and allocator growth. Call before serving; returns the shapes run."""
        if backend.device != "cuda" or self.max_batch_size <= 1:
            return 0
        sizes = sorted({1, *(2 ** k for k in range(1, 8) if 2 ** k < self.max_batch_size), self.max_batch_size})
        return backend.warm_up_batches(sizes, max_tokens=self.max_batch_tokens, half=self.half_precision)

    # -- admission -------------------------------------------------------------------------------
    def predicted_wait(self, tokens: int) -> float:
        """Seconds the admitted work would delay a new request of ``tokens`` phonemes (under the lock).

        Round-robin shares the worker: before the newcomer is done, each other request runs at most
        as much as the newcomer itself, and no more than it has left.
        """
        work = sum(min(s.remaining_tokens(), tokens) for s in self._streams.values())
        return work / self.throughput.tokens_per_s

    def backlog_seconds(self) -> float:
        """Estimated seconds of worker time to finish every admitted request."""
        with self._cond:
            work = sum(s.remaining_tokens() for s in self._streams.values())
        return work / self.throughput.tokens_per_s

    def _refuse(self, reason: str, message: str, retry_after: float) -> Overloaded:
        self.stats.streams_rejected += 1
        self.stats.rejections[reason] = self.stats.rejections.get(reason, 0) + 1
        return Overloaded(message, retry_after=math.ceil(max(1.0, retry_after)), code=reason)

    def open_stream(self, backend: KokoroBackend, seed: Optional[int] = None, *,
                    estimated_tokens: int = 0) -> SynthesisStream:
        """Admit a request, or raise Overloaded (429, Retry-After in whole seconds from the estimate).

        ``estimated_tokens``: the request's phonemes as far as known at admission (its character
        count is a fair guess); 0 means unknown, counted as ``default_estimate_tokens``. Refused with
        code ``queue_full`` at ``max_active_streams`` open requests, and with ``wait_too_long`` when
        ``predicted_wait`` exceeds ``max_queue_wait_s``.
        """
        with self._cond:
            rate = self.throughput.tokens_per_s
            if len(self._streams) >= self.max_active_streams:
                # under round-robin the smallest request ends after about n turns of its size
                smallest = min((s.remaining_tokens() for s in self._streams.values()), default=0)
                raise self._refuse("queue_full", f"the server is busy with {len(self._streams)} requests; retry later",
                                   smallest * len(self._streams) / rate)
            work = estimated_tokens if estimated_tokens > 0 else self.default_estimate_tokens
            # A request has started once its first few chunks are out and it streams; a chapter is
            # not refused for being long, it takes its turns (MAX_QUEUE_WAIT_S bounds the start).
            wait = self.predicted_wait(min(work, START_HORIZON_TOKENS))
            if self.max_queue_wait_s > 0 and wait > self.max_queue_wait_s:
                # the others' work drains at about the measured rate
                raise self._refuse(
                    "wait_too_long",
                    f"the server would make this request wait about {wait:.0f} s (MAX_QUEUE_WAIT_S is "
                    f"{self.max_queue_wait_s:g}); retry later", wait - self.max_queue_wait_s)
            stream = SynthesisStream(self, backend, self.lookahead, new_seed() if seed is None else seed,
                                     max(0, estimated_tokens))
            self._streams[stream.id] = stream
            self._turns.append(stream.id)
            self.stats.active_streams = len(self._streams)
            return stream

    def _enqueue(self, job: ChunkJob) -> None:
        with self._cond:
            if job.stream.closed or not self._running:
                return
            job.seq = next(self._seq)
            job.enqueued_at = time.monotonic()
            job.stream.pending.append(job)
            job.stream.submitted_tokens += job.tokens
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
            self.stats.running_streams = sum(1 for s in self._streams.values() if s.started)

    # -- the worker ------------------------------------------------------------------------------
    def _take_jobs(self) -> list[ChunkJob]:
        """Next job(s) to run, under the lock: new requests' first chunks first, then round-robin
        (policy fair), or arrival order (fifo); batched as the class docstring says."""
        if self.policy == "fifo":
            return self._take_fifo()
        lead = self._lead_stream()
        if lead is None:
            return []
        if self.max_batch_size == 1:
            return [lead.pending.popleft()]
        return self._gather(lead)

    def _lead_stream(self) -> Optional[SynthesisStream]:
        for stream in self._streams.values():
            if not stream.started and stream.pending:
                return stream
        for _ in range(len(self._turns)):
            stream_id = self._turns[0]
            self._turns.rotate(-1)
            stream = self._streams[stream_id]
            if stream.pending:
                return stream
        return None

    def _fits(self, lengths: list[int], padding_limit: Optional[float]) -> bool:
        """Within the batch size, the padded-token budget and (for later chunks) the padding limit."""
        if len(lengths) > self.max_batch_size:
            return False
        padded = len(lengths) * max(lengths)
        if padded > self.max_batch_tokens:
            return False
        return padding_limit is None or 1 - sum(lengths) / padded <= padding_limit

    def _gather(self, lead: SynthesisStream) -> list[ChunkJob]:
        """The lead's head chunk plus what may join it: same backend, first chunks unconditionally
        (grouping must not hold them back), later chunks in turn order while the padding stays low.
        A stream's chunks are only ever taken from its head, so its order holds."""
        backend = lead.backend
        batch = [lead.pending.popleft()]
        lengths = [batch[0].tokens + 2]
        firsts = [s for s in self._streams.values()
                  if s is not lead and not s.started and s.pending and s.backend is backend]
        for stream in firsts:
            n = stream.pending[0].tokens + 2
            if self._fits(lengths + [n], None):
                batch.append(stream.pending.popleft())
                lengths.append(n)
        turns = [self._streams[i] for i in self._turns]
        added = True
        while added and len(batch) < self.max_batch_size:
            added = False
            for stream in turns:
                if not stream.pending or stream.backend is not backend:
                    continue
                n = stream.pending[0].tokens + 2
                if self._fits(lengths + [n], self.max_padding):
                    batch.append(stream.pending.popleft())
                    lengths.append(n)
                    added = True
        return batch

    def _take_fifo(self) -> list[ChunkJob]:
        """Arrival order across all streams (the serial baseline at batch 1)."""
        batch: list[ChunkJob] = []
        lengths: list[int] = []
        while len(batch) < self.max_batch_size:
            heads = [s for s in self._streams.values() if s.pending]
            if not heads:
                break
            stream = min(heads, key=lambda s: s.pending[0].seq)
            job = stream.pending[0]
            if batch and (job.stream.backend is not batch[0].stream.backend
                          or not self._fits(lengths + [job.tokens + 2], None)):
                break
            batch.append(stream.pending.popleft())
            lengths.append(job.tokens + 2)
        return batch

    def _wait_for_batch(self) -> None:
        """With batching on, give a batch up to BATCH_WAIT_MS (from its oldest chunk) to fill up."""
        if self.max_batch_size <= 1 or self.batch_wait_s <= 0:
            return
        while self._running:
            heads = [s.pending[0].enqueued_at for s in self._streams.values() if s.pending]
            ready = sum(len(s.pending) for s in self._streams.values())
            remaining = min(heads, default=0.0) + self.batch_wait_s - time.monotonic()
            if not heads or ready >= self.max_batch_size or remaining <= 0:
                return
            self._cond.wait(remaining)

    def _work(self) -> None:
        while True:
            with self._cond:
                self._wait_for_batch()
                jobs = self._take_jobs()
                while not jobs and self._running:
                    self._cond.wait()
                    self._wait_for_batch()
                    jobs = self._take_jobs()
                if not self._running:
                    return
                for job in jobs:
                    job.stream.started = True
                self.stats.queued_chunks -= len(jobs)
                self.stats.running_streams = sum(1 for s in self._streams.values() if s.started)
                self._in_flight = jobs
            self._run_batch(jobs)
            with self._cond:
                self._in_flight = []
            memory.after_batch(jobs[0].stream.backend.device)   # frees the CUDA cache past its threshold

    def _run_batch(self, jobs: list[ChunkJob]) -> None:
        """Run the jobs (one forward when there are several) and deliver each result to its stream."""
        began = time.perf_counter()
        results = self._infer(jobs)
        elapsed = time.perf_counter() - began
        tokens = frames = 0
        for job, result in zip(jobs, results):
            if isinstance(result, ChunkOutput):
                # audio whose request left during the forward is never delivered: dropped, not done
                if job.stream.closed:
                    self.stats.chunks_dropped += 1
                else:
                    self.stats.chunks_done += 1
                tokens += job.tokens
                frames += int(result.pred_dur.sum())
            else:
                self.stats.chunks_failed += 1
        self._record(jobs, elapsed, tokens, frames)
        with self._cond:
            for job in jobs:
                job.stream.done_tokens += job.tokens
        for job, result in zip(jobs, results):
            try:
                job.stream._loop.call_soon_threadsafe(job.stream._deliver, job.index, result)
            except RuntimeError:  # the loop is gone: the server is shutting down
                pass

    def _record(self, jobs: list[ChunkJob], elapsed: float, tokens: int, frames: int) -> None:
        lengths = [job.tokens + 2 for job in jobs]
        self.stats.batches += 1
        self.stats.batch_size.observe(len(jobs))
        self.stats.padding_fraction.observe(1 - sum(lengths) / (len(lengths) * max(lengths)))
        self.stats.inference_seconds += elapsed
        if frames:
            audio = frames * SAMPLES_PER_FRAME / SAMPLE_RATE
            self.stats.audio_seconds += audio
            rtf = elapsed / audio
            self.stats.real_time_factor = rtf if not self.stats.real_time_factor else \
                0.8 * self.stats.real_time_factor + 0.2 * rtf
            self.throughput.add(tokens, elapsed)

    def _infer(self, jobs: list[ChunkJob]) -> list[object]:
        """One ChunkOutput or exception per job, in order. A failure stays with its own chunk."""
        if any(job.fault == "worker" for job in jobs):
            raise _InjectedCrash()
        results: list[object] = [None] * len(jobs)
        runnable = []
        for i, job in enumerate(jobs):
            if job.fault == "chunk":
                results[i] = RuntimeError("injected fault in this chunk")
                logger.error("chunk {} of stream {} failed: injected fault", job.index, job.stream.id)
            else:
                runnable.append(i)
        for i, result in zip(runnable, self._infer_many([jobs[i] for i in runnable])):
            results[i] = result
        return results

    def _infer_one(self, job: ChunkJob) -> object:
        """The exact one-chunk path: global RNG seeded with the chunk seed, the stock forward."""
        try:
            torch.manual_seed(job.seed)
            return job.stream.backend.infer(job.input_ids, job.ref_s, job.speed)
        except Exception as exc:  # a failed chunk fails its own request only
            logger.opt(exception=exc).error("chunk {} of stream {} failed", job.index, job.stream.id)
            return exc

    def _infer_many(self, jobs: list[ChunkJob]) -> list[object]:
        """One batched forward; on out-of-memory, halves retried one after the other (down to one
        chunk, which then fails alone); on any other error each chunk alone, to find the culprit."""
        if len(jobs) <= 1:
            return [self._infer_one(job) for job in jobs]
        backend = jobs[0].stream.backend
        infer_batch = getattr(backend, "infer_batch", None)
        if infer_batch is None:
            return [self._infer_one(job) for job in jobs]
        items = [BatchItem(job.input_ids, job.ref_s, job.speed, job.seed) for job in jobs]
        try:
            return list(infer_batch(items, half=self.half_precision))
        except torch.cuda.OutOfMemoryError:
            self.stats.oom_splits += 1
            logger.warning("out of memory on a batch of {}; splitting it", len(jobs))
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(jobs) // 2
            return self._infer_many(jobs[:half]) + self._infer_many(jobs[half:])
        except Exception as exc:
            logger.opt(exception=exc).warning("a batch of {} failed; running its chunks one by one", len(jobs))
            return [self._infer_one(job) for job in jobs]
