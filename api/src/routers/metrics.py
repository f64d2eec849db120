"""Prometheus metrics, read from the scheduler and model manager at scrape time.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``python -m api`` sets it for ``WORKERS`` > 1), every worker
mirrors these samples into prometheus-client's multiprocess files and ``/metrics`` answers with the
sum over the live workers, under the same names (see core/metrics_multiprocess.py).
"""
from typing import Optional

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..core import metrics_multiprocess

router = APIRouter(tags=["Metrics"])


class ServerCollector:
    """Exports the live state of one app; registered in that app's own registry."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        stats = self.app.state.scheduler.stats
        yield GaugeMetricFamily("kokoro_active_requests", "Requests admitted and not finished",
                                value=stats.active_streams)
        yield GaugeMetricFamily("kokoro_queued_chunks", "Chunks waiting for the inference worker (the Helm "
                                "chart's HPA scales on it)", value=stats.queued_chunks)
        chunks = CounterMetricFamily("kokoro_chunks", "Chunks by outcome (dropped: its request left before "
                                     "the audio was delivered)", labels=["outcome"])
        for outcome in ("done", "failed", "dropped"):
            chunks.add_metric([outcome], getattr(stats, f"chunks_{outcome}"))
        yield chunks
        yield CounterMetricFamily("kokoro_worker_restarts", "Inference worker restarts", value=stats.worker_restarts)
        yield CounterMetricFamily("kokoro_slow_readers_cut", "Requests cut off for not reading their audio",
                                  value=stats.slow_readers_cut)
        yield from self._scheduling(self.app.state.scheduler)
        manager = self.app.state.manager
        build = GaugeMetricFamily("kokoro_model_build_seconds", "Time to build each version", labels=["version"])
        for version, seconds in manager.build_seconds.items():
            build.add_metric([version], seconds)
        yield build
        builds = CounterMetricFamily("kokoro_model_builds", "Times each version was built", labels=["version"])
        for version, count in manager.build_counts.items():
            builds.add_metric([version], count)
        yield builds
        cache = self.app.state.engine.cache
        yield CounterMetricFamily("kokoro_chunk_cache_hits", "Chunks served from the chunk cache", value=cache.hits)
        yield CounterMetricFamily("kokoro_chunk_cache_misses", "Chunk cache look-ups that ran the model",
                                  value=cache.misses)
        yield GaugeMetricFamily("kokoro_chunk_cache_bytes", "Audio held by the chunk cache", value=cache.size_bytes)


    @staticmethod
    def _scheduling(scheduler):
        """Batching, backpressure and output figures."""
        stats = scheduler.stats
        yield GaugeMetricFamily("kokoro_running_requests", "Admitted requests whose synthesis has begun",
                                value=stats.running_streams)
        rejections = CounterMetricFamily("kokoro_rejections", "Requests refused with 429, by reason (queue_full: "
                                         "MAX_ACTIVE_REQUESTS; wait_too_long: MAX_QUEUE_WAIT_S)", labels=["reason"])
        for reason, count in sorted(stats.rejections.items()):
            rejections.add_metric([reason], count)
        yield rejections
        yield CounterMetricFamily("kokoro_audio_seconds", "Seconds of audio produced", value=stats.audio_seconds)
        yield CounterMetricFamily("kokoro_inference_seconds", "Worker seconds spent in forward passes",
                                  value=stats.inference_seconds)
        yield GaugeMetricFamily("kokoro_real_time_factor",
                                "Moving average of forward time per second of audio (below 1: faster than real time)",
                                value=stats.real_time_factor)
        yield CounterMetricFamily("kokoro_batches", "Forward passes run", value=stats.batches)
        yield CounterMetricFamily("kokoro_oom_splits", "Batches split in halves after running out of GPU memory",
                                  value=stats.oom_splits)
        yield GaugeMetricFamily("kokoro_throughput_tokens_per_second",
                                "Measured phonemes per second of worker time (admission's estimate)",
                                value=scheduler.throughput.tokens_per_s)
        yield GaugeMetricFamily("kokoro_estimated_backlog_seconds",
                                "Estimated worker seconds to finish every admitted request",
                                value=scheduler.backlog_seconds())
        for histogram in (stats.batch_size, stats.padding_fraction, stats.time_to_first_audio):
            yield from histogram.collect()


class AdmissionMemoryCollector:
    """The work requests at the door (in flight, refused while draining) and, on CUDA, device memory."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        admission = self.app.state.admission
        yield GaugeMetricFamily("kokoro_inflight_requests", "Work requests this worker is serving",
                                value=admission.inflight)
        refused = CounterMetricFamily("kokoro_admission_refused", "Requests refused with 503 before any work, "
                                      "by reason", labels=["reason"])
        refused.add_metric(["shutting_down"], admission.refused_draining)
        yield refused
        yield CounterMetricFamily("kokoro_clients_gone", "Work requests cancelled because their client "
                                  "disconnected before the answer was complete", value=admission.clients_gone)
        yield CounterMetricFamily("kokoro_clients_cut", "Work requests cancelled and their connection closed: "
                                  "the client took nothing for SLOW_READER_TIMEOUT_S", value=admission.clients_cut)
        guard = self.app.state.memory_guard
        snap = guard.snapshot(self.app.state.manager.device)
        if snap is not None:
            gpu = GaugeMetricFamily("kokoro_gpu_memory_bytes", "CUDA memory of this process", labels=["kind"])
            gpu.add_metric(["allocated"], snap.allocated)
            gpu.add_metric(["reserved"], snap.reserved)
            gpu.add_metric(["total"], snap.total)
            yield gpu
            yield CounterMetricFamily("kokoro_gpu_cache_clears", "Times the CUDA cache was freed between batches "
                                      "(GPU_MEMORY_CLEAR_THRESHOLD)", value=guard.clears)


# How the workers' gauges combine in multiprocess mode; the rest are livesum (counts, bytes, backlog and
# throughput add up over the workers).
GAUGE_MODES = {
    "kokoro_real_time_factor": "livemax",          # the slowest worker
    "kokoro_model_build_seconds": "livemax",       # the slowest build
    "kokoro_gpu_memory_bytes": "liveall",          # per process (a `pid` label): "total" is the device's
}


def make_registry(app) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(app))
    registry.register(AdmissionMemoryCollector(app))
    return registry


def make_worker_mirror(app) -> Optional[metrics_multiprocess.WorkerMirror]:
    """In multiprocess mode, this worker's mirror (the lifespan starts and stops it); else None."""
    path = metrics_multiprocess.multiprocess_dir()
    if path is None:
        return None
    mirror = metrics_multiprocess.SampleMirror([ServerCollector(app), AdmissionMemoryCollector(app)], GAUGE_MODES)
    app.state.metrics_mirror = mirror
    return metrics_multiprocess.WorkerMirror(mirror, path)


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request):
    path = metrics_multiprocess.multiprocess_dir()
    mirror = getattr(request.app.state, "metrics_mirror", None)
    if path is None or mirror is None:
        return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
    mirror.mirror()   # this worker's own figures as of now; the others' are at most a mirror period old
    metrics_multiprocess.mark_dead_workers(path)
    return Response(generate_latest(metrics_multiprocess.multiprocess_registry(path)),
                    media_type=CONTENT_TYPE_LATEST)
