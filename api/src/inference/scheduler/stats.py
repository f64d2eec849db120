"""The scheduler's counters and histograms, read by /metrics and /health at scrape time.

Plain fields written by the scheduler's parts (admission, queue, worker) and only read elsewhere; the
histograms are unregistered ``prometheus_client`` objects that the metrics collector yields.
"""
from dataclasses import dataclass, field

from prometheus_client import Histogram


@dataclass
class SchedulerStats:
    active_streams: int = 0
    queued_chunks: int = 0
    chunks_done: int = 0
    chunks_failed: int = 0
    chunks_dropped: int = 0
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
