"""Prometheus metrics, read from the scheduler and model manager at scrape time."""
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

router = APIRouter(tags=["Metrics"])


class ServerCollector:
    """Exports the live state of one app; registered in that app's own registry."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        stats = self.app.state.scheduler.stats
        yield GaugeMetricFamily("kokoro_active_requests", "Requests admitted and not finished",
                                value=stats.active_streams)
        yield GaugeMetricFamily("kokoro_queued_chunks", "Chunks waiting for the inference worker",
                                value=stats.queued_chunks)
        chunks = CounterMetricFamily("kokoro_chunks", "Chunks by outcome", labels=["outcome"])
        for outcome in ("done", "failed", "dropped"):
            chunks.add_metric([outcome], getattr(stats, f"chunks_{outcome}"))
        yield chunks
        yield CounterMetricFamily("kokoro_requests_rejected", "Requests refused with 429",
                                  value=stats.streams_rejected)
        yield CounterMetricFamily("kokoro_worker_restarts", "Inference worker restarts", value=stats.worker_restarts)
        yield CounterMetricFamily("kokoro_slow_readers_cut", "Requests cut off for not reading their audio",
                                  value=stats.slow_readers_cut)
        manager = self.app.state.manager
        build = GaugeMetricFamily("kokoro_model_build_seconds", "Time to build each version", labels=["version"])
        for version, seconds in manager.build_seconds.items():
            build.add_metric([version], seconds)
        yield build
        builds = CounterMetricFamily("kokoro_model_builds", "Times each version was built", labels=["version"])
        for version, count in manager.build_counts.items():
            builds.add_metric([version], count)
        yield builds
        cache = self.app.state.speech.cache
        yield CounterMetricFamily("kokoro_chunk_cache_hits", "Chunks served from the chunk cache", value=cache.hits)
        yield CounterMetricFamily("kokoro_chunk_cache_misses", "Chunk cache look-ups that ran the model",
                                  value=cache.misses)
        yield GaugeMetricFamily("kokoro_chunk_cache_bytes", "Audio held by the chunk cache", value=cache.size_bytes)


def make_registry(app) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(app))
    return registry


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request):
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
