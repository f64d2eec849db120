"""The app's lifespan: what runs once before the first request and once after the last.

Start-up checks the download folder and the default version's files (downloading them when
DOWNLOAD_MODEL=true), caps GPU memory, starts the inference worker and warms the default version, then
the other PRELOAD_VERSIONS; a configuration problem stops the server with one clear message. While
serving, it runs the scheduler's supervisor, the idle unloader (IDLE_UNLOAD_S), the metrics mirror
(WORKERS > 1), the SIGTERM drain and the Wyoming listener (WYOMING_PORT). Shutdown stops them, the
worker and the download janitor.

Everything it uses was built by ``main.create_app`` and lives on ``app.state``.
"""
import asyncio
import os
import socket
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI
from loguru import logger

from .core.config import Settings
from .core.exceptions import DomainError
from .http.shutdown import GracefulShutdown
from .inference.fetch_weights import MissingModelFiles, ensure_version_files
from .inference.model_manager import ModelManager, unload_when_idle
from .inference.scheduler import apply_gpu_memory_cap
from .routers import metrics
from .routers.web import web_ui_url
from .services.download_links import UnsafeFolder

_BIND_WAIT_S = 0.5   # how long the ready line waits for a socket bound after start-up (uvicorn's CLI)


async def _start_default(app: FastAPI, settings: Settings, manager: ModelManager) -> None:
    """Folder and files checked, worker started, default version warmed; a configuration problem exits."""
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


async def _start_wyoming(app: FastAPI, settings: Settings) -> None:
    """The Wyoming listener (WYOMING_PORT), once the default version is warm; a port that cannot be bound
    stops the start as the HTTP port would."""
    if app.state.wyoming is None:
        return
    try:
        await app.state.wyoming.start()
    except OSError as exc:
        shown = f"[{settings.host}]:{settings.wyoming_port}" if ":" in settings.host else \
            f"{settings.host}:{settings.wyoming_port}"
        logger.error("cannot start: the Wyoming port {} cannot be bound ({}); choose another with --wyoming-port "
                     "(WYOMING_PORT)", shown, exc.strerror or exc)
        os._exit(1)


async def _preload_others(app: FastAPI, settings: Settings, manager: ModelManager) -> None:
    for version in settings.preload_versions:
        if version == settings.default_model_version:
            continue
        try:  # another version's trouble must not stop the default one from serving
            ensure_version_files(manager.versions[version], settings.model_dir, download=settings.download_model)
            await app.state.warm_up.version(version)
        except (MissingModelFiles, DomainError) as exc:
            logger.warning("model {} not preloaded: {}", version, getattr(exc, "message", None) or str(exc))


def listening_addresses() -> set[tuple[str, int]]:
    """The TCP (host, port) pairs this process listens on, from its open sockets (``/proc/self/fd``);
    empty where that cannot be read (not Linux)."""
    found: set[tuple[str, int]] = set()
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(int(fd)))   # a duplicate: closing it leaves the server's
        except (OSError, ValueError):
            continue
        with sock:
            try:
                if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM \
                        and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    found.add(tuple(sock.getsockname()[:2]))
            except OSError:
                continue
    return found


async def _bound_addresses(settings: Settings, before: set[tuple[str, int]],
                           not_http: frozenset[tuple[str, int]] = frozenset()) -> list[tuple[str, int]]:
    """Where this server listens for HTTP, however it was started: the sockets that appear once start-up
    is done (uvicorn's CLI and ``--factory`` bind then), else those on PORT (``python -m api`` binds first
    and exports the port), else every listener this process has (a gunicorn worker's inherited one); the
    settings only where none can be read. ``not_http``: this process's other listeners (the Wyoming port)."""
    deadline = time.monotonic() + _BIND_WAIT_S
    while True:
        now = listening_addresses() - not_http
        if now - before or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    chosen = (now - before) or {a for a in now if a[1] == settings.port} or now
    return sorted(chosen) or [(settings.host, settings.port)]


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _log_ready(settings: Settings, manager: ModelManager, before: set[tuple[str, int]],
                     not_http: frozenset[tuple[str, int]]) -> None:
    bound = await _bound_addresses(settings, before, not_http)
    logger.info("ready: {} (device {})", ", ".join(_url(*a) for a in bound), manager.device)
    logger.info("engine: {} ({})", manager.engine.name, manager.engine.reason)
    logger.info("model versions: {}", ", ".join(f"{v} {state}" for v, state in manager.availability().items()))
    if settings.enable_web_ui:
        logger.info("web UI: {}", web_ui_url(*bound[0]))


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    manager: ModelManager = app.state.manager
    listening_before = listening_addresses()   # uvicorn's CLI binds only after start-up: new ones are ours
    await _start_default(app, settings, manager)
    await _preload_others(app, settings, manager)
    await _start_wyoming(app, settings)
    supervisor = asyncio.create_task(app.state.scheduler.supervise())
    idle_unloader = asyncio.create_task(unload_when_idle(manager, settings.idle_unload_s)) \
        if settings.idle_unload_s > 0 else None
    metrics_mirror = metrics.make_worker_mirror(app)   # only with WORKERS > 1 (PROMETHEUS_MULTIPROC_DIR)
    if metrics_mirror:
        metrics_mirror.start()
    if not GracefulShutdown(app.state.admission, app.state.scheduler.close_all, settings.shutdown_grace_s).install():
        logger.debug("SIGTERM drain not installed (not on the main thread, or no server handler)")
    wyoming = frozenset(app.state.wyoming.addresses) if app.state.wyoming is not None else frozenset()
    ready_log = asyncio.create_task(_log_ready(settings, manager, listening_before, wyoming))
    yield
    ready_log.cancel()
    if app.state.wyoming is not None:
        await app.state.wyoming.stop()
    app.state.scheduler.stop()
    supervisor.cancel()
    if idle_unloader:
        idle_unloader.cancel()
    if metrics_mirror:
        metrics_mirror.stop()
    app.state.downloads.close()
