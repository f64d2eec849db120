"""The composition root: ``create_app(settings)`` builds every component from the settings, wires them
together on ``app.state`` and mounts the routers; nothing else lives here.

Run it with ``uvicorn --factory api.src.main:create_app`` (settings from the environment), or
``uvicorn api.src.main:app`` (the same app, built on first access). What runs at start-up and at
shutdown (file checks, the inference worker, warm-up, background tasks) is ``startup.lifespan``; the
middleware stack is ``http.middleware``'s and the routes ``routers.mount``'s.
"""
import sys
from typing import Optional

import kokoro  # noqa: F401  (its __init__ resets loguru's handlers: import it before configuring ours)
import torch
from fastapi import FastAPI
from loguru import logger

from .builds import VERSIONS
from .core.config import Settings, get_settings
from .http.admission import Admission
from .http.cuts import install_quiet_cuts
from .http.error_handlers import install_error_handlers
from .http.log_redaction import install_key_redaction
from .http.middleware import install_middleware
from .http.speech_socket import SocketSlots
from .inference.chunk_cache import ChunkCache
from .inference.engine import SynthesisEngine
from .inference.faulty_backend import build_faulty_backend
from .inference.memory import GpuMemoryGuard
from .inference.model_manager import BackendBuilder, ModelManager, build_backend
from .inference.scheduler import InferenceScheduler, resolve_batch_size
from .routers import metrics
from .routers.mount import mount_routes
from .routers.web import PREFIX as WEB_PREFIX
from .services.download_links import DownloadStore
from .services.speech import SpeechService
from .services.text_processing.text_work import text_work
from .services.voice_combine import SaveQuota, VoiceCombiner
from .services.warm_up import WarmUp
from .startup import lifespan
from .wyoming_server.server import WyomingServer
from .wyoming_server.voices import WyomingVoices


def configure_logging(settings: Settings) -> None:
    """LOG_LEVEL and LOG_JSON for the process's one loguru sink; settings that still work under an old
    name say so here, first thing at start-up.

    A traceback is logged without loguru's variable values (``diagnose``) and without the frames above
    the handler (``backtrace``): those print every local of every frame, the request's headers (its API
    key) and its input text among them, whatever LOG_INPUT_TEXT says."""
    logger.remove()
    logger.configure(extra={"request_id": "-"})
    level = settings.log_level.upper()
    if settings.log_json:
        logger.add(sys.stderr, level=level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(sys.stderr, level=level, backtrace=False, diagnose=False,
                   format="{time:HH:mm:ss.SSS} | {level: <7} | {extra[request_id]} | {message}")
    install_quiet_cuts()   # a response cut on purpose is the request's one log line, not a traceback
    install_key_redaction()   # a browser's WebSocket key travels in the URL, which uvicorn logs
    for warning in settings.deprecations():
        logger.warning(warning)


def check_versions(settings: Settings) -> None:
    unknown = [v for v in [settings.default_model_version, *settings.preload_versions] if v not in VERSIONS]
    if unknown:
        raise SystemExit(f"unknown model version(s) {', '.join(unknown)}; known: {', '.join(VERSIONS)}")


def build_scheduler(settings: Settings, device: str, memory_guard: GpuMemoryGuard) -> InferenceScheduler:
    return InferenceScheduler(
        settings.max_active_requests, settings.chunk_lookahead, settings.slow_reader_timeout_s,
        max_batch_size=resolve_batch_size(settings.max_batch_size, device),
        max_batch_tokens=settings.max_batch_tokens, batch_wait_ms=settings.batch_wait_ms,
        max_queue_wait_s=settings.max_queue_wait_s, policy=settings.scheduling_policy,
        half_precision=settings.half_precision and device == "cuda", first_chunk_tokens=settings.first_chunk_max_tokens,
        memory_guard=memory_guard)


def create_app(settings: Optional[Settings] = None, *, backend_builder: Optional[BackendBuilder] = None) -> FastAPI:
    """The whole app for ``settings`` (the environment's by default). ``backend_builder`` builds each model
    version (``build_backend`` by default; the tests wire a network-free one for HTTP-surface tests)."""
    settings = settings or get_settings()
    configure_logging(settings)
    check_versions(settings)
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    app = FastAPI(title="Kokoro TTS server", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible text-to-speech with Kokoro-82M")
    state = app.state
    state.settings = settings
    # FAULT_INJECTION=true (tests only): a backend that fails the chunks carrying a fault marker
    builder = backend_builder or (build_faulty_backend if settings.fault_injection else build_backend)
    state.manager = ModelManager(settings, builder=builder, warm_up=lambda backend: state.warm_up.backend(backend))
    state.admission = Admission()
    state.memory_guard = GpuMemoryGuard(settings.gpu_memory_clear_threshold)
    state.scheduler = build_scheduler(settings, state.manager.device, state.memory_guard)
    state.engine = SynthesisEngine(state.scheduler, ChunkCache(settings.chunk_cache_mb * 1024 * 1024))
    # text work in TEXT_WORKERS processes; in-process under FAULT_INJECTION, whose backend finds its
    # markers' phonemes through the G2P that Voicings builds in this process
    state.text_work = text_work(0 if settings.fault_injection else settings.text_workers)
    state.speech = SpeechService(settings, state.manager, state.engine, state.text_work)
    state.warm_up = WarmUp(state.engine, state.manager, state.speech.limits, default_voice=settings.default_voice,
                           preload_voices=settings.preload_voices, text=state.text_work)
    state.voice_combiner = VoiceCombiner(state.manager, allow_save=settings.allow_voice_save, quota=SaveQuota(
        settings.voice_save_max_count, int(settings.voice_save_max_mb * 1024 * 1024)))
    state.metrics_registry = metrics.make_registry(app)
    state.downloads = DownloadStore(settings.temp_file_dir, int(settings.temp_file_max_mb * 1024 * 1024),
                                    settings.temp_file_max_age_s)
    state.socket_slots = SocketSlots(settings.stream_max_sockets)
    # WYOMING_PORT: Home Assistant's protocol on the same service; bound by the lifespan
    state.wyoming = None if settings.wyoming_port is None else WyomingServer(
        settings, state.speech, WyomingVoices(state.manager, settings.default_voice, app.version), state.admission)
    install_error_handlers(app)
    install_middleware(app, settings, state.admission, public_prefixes=("/health", WEB_PREFIX))
    mount_routes(app, settings)
    return app


def __getattr__(name: str):
    """``api.src.main:app``: the app for the environment's settings, built on first access (importing
    this module builds nothing)."""
    if name == "app":
        globals()["app"] = create_app()
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
