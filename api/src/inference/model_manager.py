"""Owns one backend per model version, built lazily and once, and maps request `model` ids to versions."""
import asyncio
import gc
import time
from enum import Enum
from typing import Awaitable, Callable, Optional

import torch
from loguru import logger

from ..builds import VERSIONS
from ..builds.base import VersionSpec
from ..core.config import Settings
from ..core.exceptions import Conflict, InvalidRequest, ServiceUnavailable, quote
from .backend import KokoroBackend
from .engines import apply_engine, choose_engine
from .fetch_weights import fetch_command
from .torch_threads import run_in_passing_thread
from .voices import VoiceLibrary, list_voice_names, load_openai_voice_map
from .weights import load_kmodel

# OpenAI's model names and our generic one speak with the default version.
DEFAULT_ALIASES = ("kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")


class VersionState(str, Enum):
    NOT_LOADED = "not_loaded"
    IDLE = "unloaded_idle"   # freed after IDLE_UNLOAD_S without requests; the next request builds it again
    LOADING = "loading"
    READY = "ready"
    MISSING = "missing_files"
    FAILED = "failed"


class ModelLease:
    """A request's hold on a built version, from the moment it takes the version until its last chunk:
    while any lease on a version is held, no unload (explicit or idle) frees it.

    ``backend = await lease.acquire()`` … ``lease.release()`` (idempotent), or
    ``async with manager.lease(version) as backend``. ``ModelLease.borrowed(backend)`` holds nothing:
    for a backend its caller already keeps alive (a build's own warm-up, under the build lock).
    """

    def __init__(self, manager: Optional["ModelManager"], version: str, backend: Optional[KokoroBackend] = None):
        self._manager, self.version = manager, version
        self._backend = backend
        self._held = False
        self._released = False

    @classmethod
    def borrowed(cls, backend: KokoroBackend) -> "ModelLease":
        return cls(None, backend.version, backend)

    @property
    def backend(self) -> KokoroBackend:
        if self._backend is None:
            raise RuntimeError("the lease has not been acquired")
        return self._backend

    async def acquire(self) -> KokoroBackend:
        """Build the version if needed (``ModelManager.get``) and hold it; returns its backend."""
        if self._manager is not None and not self._held:
            self._backend = await self._manager._hold(self.version)
            self._held = True
        return self.backend

    def release(self) -> None:
        if self._manager is not None and self._held and not self._released:   # only a manager's lease is held
            self._manager._let_go(self.version)
        self._released = True

    async def __aenter__(self) -> KokoroBackend:
        return await self.acquire()

    async def __aexit__(self, *exc) -> None:
        self.release()


def resolve_device(setting: str) -> str:
    """DEVICE as a torch device; ``cuda`` where this torch cannot use CUDA is a ValueError saying why
    (a CPU-only torch build: how to install a CUDA one; or no GPU visible)."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        if torch.version.cuda is None:
            raise ValueError(
                f"DEVICE=cuda, but this torch ({torch.__version__}) is a CPU-only build. Install a CUDA build: "
                "TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 bash scripts/install.sh "
                "(or set DEVICE=cpu)")
        raise ValueError(f"DEVICE=cuda, but torch (CUDA {torch.version.cuda}) sees no GPU: check the driver "
                         "(nvidia-smi) and CUDA_VISIBLE_DEVICES, or set DEVICE=cpu")
    return setting


# (spec, settings, device, engine) -> a built version; ``build_backend`` unless the app is wired otherwise
BackendBuilder = Callable[[VersionSpec, Settings, str, str], KokoroBackend]


def build_backend(spec: VersionSpec, settings: Settings, device: str, engine: str,
                  backend_class: type[KokoroBackend] = KokoroBackend) -> KokoroBackend:
    """Load one version from MODEL_DIR (blocking: call it off the event loop), as a ``backend_class``,
    prepared for ``engine`` (an engine name the manager chose, ``engines.choose_engine``)."""
    config = spec.load_config(spec.config_path(settings.model_dir))
    model = apply_engine(load_kmodel(spec, config, spec.weights_path(settings.model_dir)).to(device).eval(), engine)
    return backend_class(spec, model, config, load_voices(spec, settings), device)


def load_voices(spec: VersionSpec, settings: Settings) -> VoiceLibrary:
    """The version's voice library in MODEL_DIR: its packs, saved mixes and the OpenAI voice names
    (OPENAI_VOICE_MAP over the packaged map)."""
    return VoiceLibrary(spec.voices_dir(settings.model_dir), spec.voice_rows,
                        load_openai_voice_map(spec.version, settings.openai_voice_map),
                        normalize_weights=settings.normalize_voice_weights,
                        saved_folder=spec.saved_voices_dir(settings.model_dir))


class ModelManager:
    """Versions by name; ``get`` builds a version on first use, once even under concurrent callers."""

    def __init__(self, settings: Settings, versions: Optional[dict[str, VersionSpec]] = None,
                 builder: Callable[[VersionSpec, Settings, str, str], KokoroBackend] = build_backend,
                 *, warm_up: Optional[Callable[[KokoroBackend], Awaitable[None]]] = None,
                 clock: Callable[[], float] = time.monotonic):
        """``warm_up`` runs on each freshly built backend before any request gets it (a short
        synthesis, resident voices); if it fails, the build counts as failed. ``clock`` times idleness."""
        self.settings = settings
        self._warm_up = warm_up
        self.versions = dict(versions or VERSIONS)
        if settings.default_model_version not in self.versions:
            raise ValueError(f"DEFAULT_MODEL_VERSION {settings.default_model_version!r} is not one of "
                             f"{', '.join(self.versions)}")
        for version in self.versions:   # a bad OPENAI_VOICE_MAP stops the start, not a later first request
            load_openai_voice_map(version, settings.openai_voice_map)
        self.device = resolve_device(settings.device)
        self.engine = choose_engine(settings.engine, self.device)   # what build_backend applies, and why
        self._builder = builder
        self._backends: dict[str, KokoroBackend] = {}
        self._states = {v: VersionState.NOT_LOADED for v in self.versions}
        self._errors: dict[str, str] = {}
        self._locks = {v: asyncio.Lock() for v in self.versions}
        self._draining: set[str] = set()
        self.build_counts = {v: 0 for v in self.versions}
        self.build_seconds: dict[str, float] = {}
        self._clock = clock
        self._last_used: dict[str, float] = {}
        self._leases = {v: 0 for v in self.versions}

    @property
    def default_version(self) -> str:
        return self.settings.default_model_version

    def model_ids(self) -> dict[str, str]:
        """Every accepted `model` value and the version it selects."""
        ids = {alias: self.default_version for alias in DEFAULT_ALIASES}
        ids.update({spec.model_id: version for version, spec in self.versions.items()})
        return ids

    def version_for(self, model_id: str) -> str:
        ids = self.model_ids()
        if model_id in ids:
            return ids[model_id]
        if model_id in self.versions:
            return model_id
        raise InvalidRequest(f"model {quote(model_id)} not found. Available models: {', '.join(ids)}",
                             param="model", code="model_not_found")

    def state(self, version: str) -> VersionState:
        return self._states[version]

    def status(self) -> dict:
        return {
            version: {"state": self._states[version].value,
                      **({"error": self._errors[version]} if version in self._errors else {})}
            for version in self.versions
        }

    def availability(self) -> dict[str, str]:
        """Per version, for the start-up log: its state once built (or tried), else whether its files are on
        disk (built on first use) or must be fetched first. Looks at files only; builds nothing."""
        model_dir = self.settings.model_dir
        described = {}
        for version, spec in self.versions.items():
            if self._states[version] is not VersionState.NOT_LOADED:
                described[version] = self._states[version].value
            elif spec.missing_files(model_dir):
                described[version] = f"not on disk (fetch: {fetch_command(version)})"
            else:
                described[version] = "on disk (built on first use)"
        return described

    def _without_paths(self, text: str) -> str:
        """``text`` for clients: MODEL_DIR's path replaced by the word (the log keeps the full text)."""
        for path in {str(self.settings.model_dir.resolve()), str(self.settings.model_dir)}:
            text = text.replace(path, "MODEL_DIR")
        return text

    def versions_with_voice(self, name: str) -> list[str]:
        """Versions with a built-in or saved pack of that name (loaded or not)."""
        model_dir = self.settings.model_dir
        return [v for v, spec in self.versions.items()
                if any((folder / f"{name}.pt").is_file()
                       for folder in (spec.voices_dir(model_dir), spec.saved_voices_dir(model_dir)))]

    def _require_files(self, version: str) -> VersionSpec:
        """The version's spec when its files are in MODEL_DIR; else it is marked missing (503)."""
        spec = self.versions[version]
        missing = spec.missing_files(self.settings.model_dir)
        if missing:
            if self._states[version] is not VersionState.MISSING:   # paths go to the log, once
                logger.warning("model {} is missing {}", version, ", ".join(str(p) for p in missing))
            self._states[version] = VersionState.MISSING
            folder = spec.folder(self.settings.model_dir)
            self._errors[version] = "missing " + ", ".join(str(p.relative_to(folder)) for p in missing)
            raise ServiceUnavailable(
                f"model version {version} is not installed on this server ({self._errors[version]}); "
                f"fetch it with `{fetch_command(version)}`", code="model_unavailable", retry=False)
        return spec

    def voice_names(self, version: str) -> list[str]:
        """The version's voices (built-in and saved) from its folders under MODEL_DIR: never builds or
        waits for a build; a version whose files are missing answers 503 as ``get`` would."""
        spec = self._require_files(version) if version not in self._backends else self.versions[version]
        model_dir = self.settings.model_dir
        return list_voice_names(spec.voices_dir(model_dir), spec.saved_voices_dir(model_dir))

    async def get(self, version: str) -> KokoroBackend:
        self._last_used[version] = self._clock()
        backend = self._backends.get(version)
        if backend is not None and version not in self._draining:
            return backend
        async with self._locks[version]:
            if version in self._backends:
                return self._backends[version]
            spec = self._require_files(version)
            self._states[version] = VersionState.LOADING
            began = time.perf_counter()
            try:
                # a thread that exits afterwards: see torch_threads (the inference thread's speed)
                backend = await run_in_passing_thread(self._builder, spec, self.settings, self.device,
                                                      self.engine.name, name=f"build-{version}")
                if self._warm_up is not None:   # the lock is held: requests for it wait until it is warm
                    await self._warm_up(backend)
            except Exception as exc:
                self._states[version] = VersionState.FAILED
                self._errors[version] = self._without_paths(str(exc))
                logger.error("building {} failed: {}", version, exc)
                raise ServiceUnavailable(f"model version {version} failed to load: {self._errors[version]}",
                                         code="model_load_failed", retry=False) from exc
            self.build_counts[version] += 1
            self.build_seconds[version] = time.perf_counter() - began
            self._backends[version] = backend
            self._states[version] = VersionState.READY
            self._errors.pop(version, None)
            logger.info("model {} ready on {} in {:.1f}s", version, self.device, self.build_seconds[version])
            return backend

    def lease(self, version: str) -> ModelLease:
        """A lease on ``version`` (not yet held: ``await lease.acquire()`` or ``async with``)."""
        if version not in self.versions:
            raise KeyError(version)
        return ModelLease(self, version)

    def leases(self, version: str) -> int:
        """Requests holding the version now."""
        return self._leases[version]

    async def _hold(self, version: str) -> KokoroBackend:
        backend = await self.get(version)
        # no await between ``get`` returning and this count: an unload that starts later waits for it
        self._leases[version] += 1
        return backend

    def _let_go(self, version: str) -> None:
        self._leases[version] -= 1
        self._last_used[version] = self._clock()

    async def unload_idle(self, idle_s: float) -> list[str]:
        """Unloads every built version nobody asked for in the last ``idle_s`` seconds and with no lease
        held (a held lease counts as use: its clock restarts); returns the versions freed.

        Runs on the event loop: between the checks and the removal nothing else runs, so a request that
        gets the version afterwards builds it again."""
        now = self._clock()
        freed = []
        for version in list(self._backends):
            if self._leases[version] or version in self._draining or self._locks[version].locked():
                self._last_used[version] = now
            elif now - self._last_used.get(version, now) >= idle_s:
                await self.unload(version, wait=False, state=VersionState.IDLE)
                freed.append(version)
        return freed

    async def unload(self, version: str, *, wait: bool = True,
                     state: VersionState = VersionState.NOT_LOADED) -> None:
        """Free a version's memory; the next request builds it again.

        With leases held it waits for their release (new requests for the version wait too), or raises
        Conflict (409) when ``wait`` is false.
        """
        async with self._locks[version]:
            backend = self._backends.get(version)
            if backend is None:
                return
            if self._leases[version] and not wait:
                raise Conflict(f"model version {version} has {self._leases[version]} requests in flight",
                               code="model_busy")
            self._draining.add(version)
            try:
                while self._leases[version]:
                    await asyncio.sleep(0.05)
            finally:
                self._draining.discard(version)
            del self._backends[version]
            self._states[version] = state
        del backend
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
        logger.info("model {} unloaded{}", version, " (idle)" if state is VersionState.IDLE else "")


async def unload_when_idle(manager: ModelManager, idle_s: float) -> None:
    """Runs until cancelled: every few seconds (a quarter of ``idle_s``, at most 30 s) frees the versions
    idle for ``idle_s`` seconds (IDLE_UNLOAD_S)."""
    interval = min(max(idle_s / 4, 0.05), 30.0)
    while True:
        await asyncio.sleep(interval)
        try:
            await manager.unload_idle(idle_s)
        except Exception as exc:   # keep sweeping: one failed unload must not end idle unloading
            logger.error("idle unload failed: {}", exc)
