"""``InferenceScheduler``: the one place model code runs, put together from its parts.

It owns the ``ChunkQueue`` of open streams, the ``AdmissionPolicy`` that opens them, the
``InferenceWorker`` thread that serves them, and the supervision the event loop runs while serving
(``supervise``: restart a dead worker, cut off slow readers). Its public surface is what the app
uses: ``start`` / ``stop``, ``open_stream``, ``close_all`` (shutdown's abort), ``warm_up``, and the
figures /metrics and /health read (``stats``, ``throughput``, ``backlog_seconds``, ``alive``).
"""
import asyncio
import time
from typing import Optional

from loguru import logger

from ..backend import KokoroBackend
from ..memory import GpuMemoryGuard
from .admission import AdmissionPolicy, ThroughputEstimate
from .batching import BatchPolicy
from .chunk_queue import ChunkQueue
from .seeds import new_seed
from .stats import SchedulerStats
from .stream import SlowReader, SynthesisStream, WorkerRestarted
from .worker import InferenceWorker


class InferenceScheduler:
    """Owns the inference thread and the queue of chunk jobs from all open streams.

    The defaults (batch 1, fair policy, no work bound) are the plain one-chunk-at-a-time scheduler;
    the app passes the settings (MAX_BATCH_SIZE already resolved by ``resolve_batch_size``;
    ``first_chunk_tokens`` is FIRST_CHUNK_MAX_TOKENS, for admission's predicted wait) and the
    process's GPU memory guard (``memory_guard``; default: one at its default threshold).
    """

    def __init__(self, max_active_streams: int, lookahead: int, slow_reader_timeout: float = 60.0, *,
                 max_batch_size: int = 1, max_batch_tokens: int = 4096, batch_wait_ms: float = 0.0,
                 max_padding: float = 0.3, max_queue_wait_s: float = 0.0, policy: str = "fair",
                 half_precision: bool = False, throughput_prior: float = 100.0,
                 default_estimate_tokens: int = 100, first_chunk_tokens: int = 100,
                 memory_guard: Optional[GpuMemoryGuard] = None):
        self.batching = BatchPolicy(max_batch_size, max_batch_tokens, max_padding, policy, batch_wait_ms / 1000.0)
        self.lookahead = lookahead
        self.slow_reader_timeout = slow_reader_timeout
        self.half_precision = half_precision
        self.stats = SchedulerStats()
        self.throughput = ThroughputEstimate(throughput_prior)
        # the fair policy runs first chunks first (FIRST_CHUNK_MAX_TOKENS); fifo gives them no priority
        self.admission = AdmissionPolicy(max_active_streams, max_queue_wait_s, default_estimate_tokens,
                                         self.throughput, self.stats,
                                         first_chunk_tokens if policy == "fair" else 0)
        self._queue = ChunkQueue(self.batching, self.stats)
        self._worker = InferenceWorker(self._queue, self.stats, self.throughput,
                                       memory_guard or GpuMemoryGuard(), half_precision)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._queue.start()
        self._worker.start()

    async def supervise(self, interval: float = 0.25) -> None:
        """Run on the event loop while serving: restarts a dead worker and cuts off slow readers."""
        while self._queue.running:
            await asyncio.sleep(interval)
            if self._queue.running and not self.alive:
                self._restart_worker()
            now = time.monotonic()
            for stream in self._queue.streams():
                if stream.unread_since is not None and now - stream.unread_since > self.slow_reader_timeout:
                    self.stats.slow_readers_cut += 1
                    stream.close(SlowReader(f"the client read no audio for {self.slow_reader_timeout:g} s"))

    def _restart_worker(self) -> None:
        """The requests whose chunks died with the worker fail; queued work goes to a new worker."""
        lost = self._queue.take_in_flight()
        for job in lost:
            job.stream.deliver(job.index, WorkerRestarted("the inference worker died while running this request"))
        self.stats.worker_restarts += 1
        logger.error("inference worker died; restarting it ({} requests failed)", len(lost))
        self._worker.start()

    def stop(self) -> None:
        self._queue.stop()
        self._worker.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._worker.alive

    def warm_up(self, backend: KokoroBackend) -> int:
        """Run the common batch shapes once (CUDA with batching only), so the first real batches do not
        pay for kernel selection and allocator growth. Call before serving; returns the shapes run."""
        size = self.batching.max_batch_size
        if backend.device != "cuda" or size <= 1:
            return 0
        sizes = sorted({1, *(2 ** k for k in range(1, 8) if 2 ** k < size), size})
        return backend.warm_up_batches(sizes, max_tokens=self.batching.max_batch_tokens, half=self.half_precision)

    # -- streams ---------------------------------------------------------------------------------
    def open_stream(self, backend: KokoroBackend, seed: Optional[int] = None, *,
                    estimated_tokens: int = 0, admit: bool = True) -> SynthesisStream:
        """Admit a request, or raise Overloaded (429, Retry-After in whole seconds from the estimate).

        ``estimated_tokens``: the request's phonemes as far as known at admission (its character
        count is a fair guess); 0 means unknown, counted as ``default_estimate_tokens``. Refused with
        code ``queue_full`` at ``max_active_streams`` open requests (a long one already when long
        requests hold their ``long_slots``), and with ``wait_too_long`` when
        the predicted wait exceeds ``max_queue_wait_s`` (see ``admission``). ``admit=False`` opens the
        stream without those checks: for the server's own work that requests wait for (a warm-up).
        """
        with self._queue.lock:
            if admit:
                self.admission.check(self._queue.lanes(), estimated_tokens)
            stream = SynthesisStream(self._queue, self._queue.new_id(), backend, self.lookahead,
                                     new_seed() if seed is None else seed, self.stats)
            self._queue.add(stream, max(0, estimated_tokens), self.admission.default_estimate_tokens)
            return stream

    def close_all(self, reason: Optional[BaseException] = None) -> int:
        """Close every open stream (event loop only): queued chunks are dropped and each reader raises
        ``reason`` (StreamClosed when None). Returns how many streams were open."""
        streams = self._queue.streams()
        for stream in streams:
            stream.close(reason)
        return len(streams)

    def backlog_seconds(self) -> float:
        """Estimated seconds of worker time to finish every admitted request."""
        with self._queue.lock:
            return self.admission.backlog_seconds(self._queue.lanes())
