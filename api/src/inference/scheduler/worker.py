"""The inference thread: runs the queue's batches on their backend and hands each result to its stream.

``InferenceWorker`` loops on ``ChunkQueue.next_batch``: one batched forward for the whole batch, each
chunk with its own seed (a batch of one runs ``infer_seeded``: the same bytes for a seed, whatever
else runs; its noise comes from the chunk's own generator, so no other thread's use of torch's global
RNG reaches it). A failure stays with its own chunk: an exception from a chunk fails its request only;
a batch that fails is rerun chunk by chunk to find the culprit; out of GPU memory, the batch is split
in halves run one after the other. Only a ``BaseException`` that is not an ``Exception`` ends the
thread; the scheduler's supervisor then fails the batch in flight and calls ``start`` again (the same
worker object, a new thread). After each batch it updates the stats and the throughput estimate, and
lets the GPU memory guard free the cache.
"""
import threading
import time
from typing import Optional

import torch
from loguru import logger

from ...builds.base import SAMPLE_RATE, SAMPLES_PER_FRAME
from ..backend import ChunkOutput
from ..forward import BatchItem
from ..memory import GpuMemoryGuard
from .admission import ThroughputEstimate
from .batching import padded_length, padding_fraction
from .chunk_queue import ChunkQueue
from .stats import SchedulerStats
from .stream import ChunkJob, ChunkResult


class InferenceWorker:
    """The thread that serves ``queue``; see the module docstring."""

    def __init__(self, queue: ChunkQueue, stats: SchedulerStats, throughput: ThroughputEstimate,
                 memory_guard: GpuMemoryGuard, half_precision: bool = False):
        self._queue = queue
        self.stats = stats
        self.throughput = throughput
        self.memory_guard = memory_guard
        self.half_precision = half_precision
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Start a (new) thread; the queue must be running."""
        self._thread = threading.Thread(target=self._loop, name="inference", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def join(self, timeout: float) -> None:
        if self._thread:
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        while (jobs := self._queue.next_batch()) is not None:
            self.run_batch(jobs)
            self._queue.release()
            self.memory_guard.after_batch(jobs[0].stream.backend.device)   # frees the CUDA cache past its threshold

    def run_batch(self, jobs: list[ChunkJob]) -> None:
        """Run the jobs (one forward when there are several) and deliver each result to its stream."""
        began = time.perf_counter()
        results = self._infer_many(jobs)
        elapsed = time.perf_counter() - began
        tokens = frames = 0
        for job, result in zip(jobs, results, strict=True):
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
        self._queue.mark_done(jobs)
        for job, result in zip(jobs, results, strict=True):
            job.stream.deliver_threadsafe(job.index, result)

    def _record(self, jobs: list[ChunkJob], elapsed: float, tokens: int, frames: int) -> None:
        self.stats.batches += 1
        self.stats.batch_size.observe(len(jobs))
        self.stats.padding_fraction.observe(padding_fraction([padded_length(job.tokens) for job in jobs]))
        self.stats.inference_seconds += elapsed
        if frames:
            audio = frames * SAMPLES_PER_FRAME / SAMPLE_RATE
            self.stats.audio_seconds += audio
            rtf = elapsed / audio
            self.stats.real_time_factor = rtf if not self.stats.real_time_factor else \
                0.8 * self.stats.real_time_factor + 0.2 * rtf
            self.throughput.add(tokens, elapsed)

    def _infer_one(self, job: ChunkJob) -> ChunkResult:
        """The exact one-chunk path: the chunk's noise from a generator of its own seed (``infer_seeded``:
        other threads' use of torch's global RNG cannot reach it)."""
        try:
            return job.stream.backend.infer_seeded(job.input_ids, job.ref_s, job.speed, job.seed)
        except Exception as exc:  # a failed chunk fails its own request only
            logger.opt(exception=exc).error("chunk {} of stream {} failed", job.index, job.stream.id)
            return exc

    def _infer_many(self, jobs: list[ChunkJob]) -> list[ChunkResult]:
        """One ChunkOutput or exception per job, in order, from one batched forward; on out-of-memory,
        halves retried one after the other (down to one chunk, which then fails alone); on any other
        error each chunk alone, to find the culprit."""
        if len(jobs) <= 1:
            return [self._infer_one(job) for job in jobs]
        backend = jobs[0].stream.backend
        items = [BatchItem(job.input_ids, job.ref_s, job.speed, job.seed) for job in jobs]
        try:
            return list(backend.infer_batch(items, half=self.half_precision))
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
