"""The composition root: ``create_app(settings)`` builds every component from the settings, wires them
together on ``app.state`` and mounts the routers; nothing else lives here.

Run it with ``uvicorn --factory api.src.main:create_app`` (settings from the environment), or
``uvicorn api.src.main:app`` (the same app, built on first access). Start-up checks the default
version's files (downloading them when DOWNLOAD_MODEL=true), starts the inference worker and warms the
default and preloaded versions (``services.warm_up``); a missing model stops the server with one clear
message. Shutdown stops the worker, the metrics mirror and the download janitor.
"""
import asyncio
import os
import sys
from contextlib import asynccontextmanager
from typing import Optional

import kokoro  # noqa: F401  (its __init__ resets loguru's handlers: import it before configuring ours)
import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from loguru import logger

from .builds import VERSIONS
from .core.config import Settings, get_settings
from .core.exceptions import DomainError
from .http.admission import Admission, AdmissionMiddleware
from .http.api_keys import ApiKeyMiddleware
from .http.body_limit import BodyLimitMiddleware
from .http.error_handlers import install_error_handlers
from .http.json_body import JsonBodyMiddleware
from .http.origins import OriginMiddleware
from .http.request_id import RequestIdMiddleware
from .http.shutdown import GracefulShutdown
from .inference.fetch_weights import MissingModelFiles, ensure_version_files
from .inference.faulty_backend import build_faulty_backend
from .inference.memory import GpuMemoryGuard
from .inference.model_manager import ModelManager, build_backend, unload_when_idle
from .inference.scheduler import InferenceScheduler, apply_gpu_memory_cap, resolve_batch_size
from .routers import dev, health, metrics, models, openai_compatible
from .routers import downloads as download_routes, voices as voice_routes
from .routers.web import PREFIX as WEB_PREFIX, mount_web_ui, web_ui_url
from .services.download_links import DownloadStore, UnsafeFolder
from .services.speech import SpeechService
from .services.voice_combine import VoiceCombiner
from .services.warm_up import WarmUp

# Served under /v1 and at the root: /audio/speech, /audio/voices, /audio/models, /models ... (not in the schema twice)
OPENAI_ROUTERS = (openai_compatible.router, models.router, voice_routes.router)


def configure_logging(settings: Settings) -> None:
    logger.remove()
    logger.configure(extra={"request_id": "-"})
    if settings.log_json:
        logger.add(sys.stderr, level=settings.log_level.upper(), serialize=True)
    else:
        logger.add(sys.stderr, level=settings.log_level.upper(),
                   format="{time:HH:mm:ss.SSS} | {level: <7} | {extra[request_id]} | {message}")


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    manager: ModelManager = app.state.manager
    default = settings.default_model_version
    try:
        app.state.downloads.check_folder()
        ensure_version_files(manager.versions[default], settings.model_dir, download=settings.download_model)
        apply_gpu_memory_cap(manager.device, settings.gpu_memory_cap_fraction)
        app.state.scheduler.start()
        await app.state.warm_up.version(default)
    except (MissingModelFiles, UnsafeFolder, DomainError) as exc:
        # A configuration problem, not a crash: one clear message and exit code 1. Any exception
        # raised from here would reach the user as a server traceback, hence the hard exit.
        logger.error("cannot start: {}", getattr(exc, "message", None) or str(exc))
        os._exit(1)
    for version in settings.preload_versions:
        if version == default:
            continue
        try:  # another version's trouble must not stop the default one from serving
            ensure_version_files(manager.versions[version], settings.model_dir, download=settings.download_model)
            await app.state.warm_up.version(version)
        except (MissingModelFiles, DomainError) as exc:
            logger.warning("model {} not preloaded: {}", version, getattr(exc, "message", None) or str(exc))
    supervisor = asyncio.create_task(app.state.scheduler.supervise())
    idle_unloader = asyncio.create_task(unload_when_idle(manager, settings.idle_unload_s)) \
        if settings.idle_unload_s > 0 else None
    metrics_mirror = metrics.make_worker_mirror(app)   # only with WORKERS > 1 (PROMETHEUS_MULTIPROC_DIR)
    if metrics_mirror:
        metrics_mirror.start()
    if not GracefulShutdown(app.state.admission, app.state.scheduler.close_all, settings.shutdown_grace_s).install():
        logger.debug("SIGTERM drain not installed (not on the main thread, or no server handler)")
    logger.info("ready: http://{}:{} (device {})", settings.host, settings.port, manager.device)
    logger.info("engine: {} ({})", manager.engine.name, manager.engine.reason)
    logger.info("model versions: {}", ", ".join(f"{v} {state}" for v, state in manager.availability().items()))
    if settings.enable_web_ui:
        logger.info("web UI: {}", web_ui_url(settings.host, settings.port))
    yield
    app.state.scheduler.stop()
    supervisor.cancel()
    if idle_unloader:
        idle_unloader.cancel()
    if metrics_mirror:
        metrics_mirror.stop()
    app.state.downloads.close()


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    for warning in settings.deprecations():
        logger.warning(warning)
    unknown = [v for v in [settings.default_model_version, *settings.preload_versions] if v not in VERSIONS]
    if unknown:
        raise SystemExit(f"unknown model version(s) {', '.join(unknown)}; known: {', '.join(VERSIONS)}")
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    app = FastAPI(title="Kokoro TTS server", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible text-to-speech with Kokoro-82M")
    app.state.settings = settings
    # FAULT_INJECTION=true (tests only): a backend that fails the chunks carrying a fault marker
    builder = build_faulty_backend if settings.fault_injection else build_backend
    app.state.manager = ModelManager(settings, builder=builder,
                                     warm_up=lambda backend: app.state.warm_up.backend(backend))
    app.state.admission = Admission()
    app.state.memory_guard = GpuMemoryGuard(settings.gpu_memory_clear_threshold)
    app.state.scheduler = InferenceScheduler(
        settings.max_active_requests, settings.chunk_lookahead, settings.slow_reader_timeout_s,
        max_batch_size=resolve_batch_size(settings.max_batch_size, app.state.manager.device),
        max_batch_tokens=settings.max_batch_tokens, batch_wait_ms=settings.batch_wait_ms,
        max_queue_wait_s=settings.max_queue_wait_s, policy=settings.scheduling_policy,
        half_precision=settings.half_precision and app.state.manager.device == "cuda",
        memory_guard=app.state.memory_guard)
    app.state.speech = SpeechService(settings, app.state.manager, app.state.scheduler)
    app.state.warm_up = WarmUp(app.state.speech, app.state.manager, app.state.scheduler,
                               default_voice=settings.default_voice, preload_voices=settings.preload_voices)
    app.state.voice_combiner = VoiceCombiner(app.state.manager, allow_save=settings.allow_voice_save)
    app.state.metrics_registry = metrics.make_registry(app)
    app.state.downloads = DownloadStore(settings.temp_file_dir, int(settings.temp_file_max_mb * 1024 * 1024),
                                        settings.temp_file_max_age_s)
    install_error_handlers(app)
    # Last added runs first: ids for everything, then CORS (answers preflights), origins (refuses a
    # disallowed site's simple requests), keys, body limit, admission (in-flight count, shutdown drain), JSON
    # bodies (no Content-Type: read as JSON; another type: 415).
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(AdmissionMiddleware, admission=app.state.admission,
                       body_timeout_s=settings.body_read_timeout_s)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys, public_prefixes=("/health", WEB_PREFIX))
    app.add_middleware(OriginMiddleware, allowed_origins=settings.cors_origins)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                       allow_headers=["*"], expose_headers=["X-Seed", "X-Model-Version", "X-Request-ID", "X-Download-Path"])
    app.add_middleware(RequestIdMiddleware)
    app.include_router(openai_compatible.router, prefix="/v1")
    app.include_router(models.router, prefix="/v1")
    app.include_router(health.router)
    app.include_router(metrics.router)
    if settings.enable_dev_routes:
        app.include_router(dev.router)
    app.include_router(voice_routes.router, prefix="/v1")
    app.include_router(download_routes.router)
    for router in OPENAI_ROUTERS:   # again without /v1 (Home Assistant's openai_tts and others), same handlers
        app.include_router(router, include_in_schema=False)
    if settings.enable_web_ui:
        mount_web_ui(app)
    return app


def __getattr__(name: str):
    """``api.src.main:app``: the app for the environment's settings, built on first access (importing
    this module builds nothing)."""
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
