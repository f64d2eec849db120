"""The one place model code runs: a bounded set of request streams served by an inference thread.

Each request opens a ``SynthesisStream`` (``InferenceScheduler.open_stream``), submits its chunks in
order and iterates its own results in order. The parts, one job per module:

- ``stream``: a request's flow of chunks and its lifecycle (``SynthesisStream``, ``StreamClosed``).
- ``admission``: who may open a stream (open-request cap, predicted wait, the 429 decisions) and the
  measured throughput it predicts from.
- ``batching``: pure functions that pick the next batch (first chunks first, then round-robin, or
  fifo) and how long to let it fill.
- ``chunk_queue``: the open streams' queued chunks under one lock, shared with the worker (one ``Lane``
  per stream: the queue's own record of it; the queue imports ``stream``, never the other way).
- ``worker``: the thread that runs batches on the backend (OOM splits, failure isolation).
- ``inference_scheduler``: ``InferenceScheduler``, which ties them together and supervises the worker.
- ``seeds``, ``device``, ``stats``: chunk seeds, device-dependent settings, the counters for /metrics.
"""
from .admission import START_HORIZON_TOKENS, AdmissionPolicy, ThroughputEstimate
from .batching import BatchPolicy
from .device import apply_gpu_memory_cap, resolve_batch_size
from .inference_scheduler import InferenceScheduler
from .seeds import chunk_seed, new_seed
from .stats import SchedulerStats
from .stream import ChunkJob, SlowReader, StreamClosed, SynthesisStream, WorkerRestarted

__all__ = [
    "START_HORIZON_TOKENS", "AdmissionPolicy", "BatchPolicy", "ChunkJob", "InferenceScheduler", "SchedulerStats",
    "SlowReader", "StreamClosed", "SynthesisStream", "ThroughputEstimate", "WorkerRestarted",
    "apply_gpu_memory_cap", "chunk_seed", "new_seed", "resolve_batch_size",
]
