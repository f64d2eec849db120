"""The Wyoming listener of one worker process: ``WyomingServer``.

Started by the lifespan when WYOMING_PORT is set, on HOST (the address the HTTP server binds), once the
default model version is warm; stopped at shutdown (its connections cancelled, their work closed). With
WORKERS > 1, every worker process binds the same port with SO_REUSEPORT and the kernel spreads the
connections over them (Linux; each connection stays with one worker). A port that cannot be bound stops
the start with a message that names it.
"""
import asyncio
import socket
from typing import Any, Optional

from loguru import logger

from ..core.config import Settings
from ..http.admission import Admission
from ..services.speech.service import SpeechService
from .mdns import Announcement, announce
from .session import MAX_LINE_BYTES, ConnectionSlots, WyomingSession
from .voices import WyomingVoices

_STOP_WAIT_S = 5.0


def url(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


class WyomingServer:
    """See the module docstring; ``start`` binds and returns the addresses it listens on."""

    def __init__(self, settings: Settings, service: SpeechService, voices: WyomingVoices, admission: Admission):
        self.settings = settings
        self.service = service
        self.voices = voices
        self.admission = admission
        self.slots = ConnectionSlots(settings.wyoming_max_connections)
        self._server: Optional[asyncio.Server] = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._announcement: Optional[Announcement] = None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        if self._server is None:
            return []
        return sorted({(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in self._server.sockets})

    async def start(self) -> list[tuple[str, int]]:
        """Listen on HOST:WYOMING_PORT (OSError when it cannot); announce it when WYOMING_ZEROCONF is on."""
        port = self.settings.wyoming_port
        assert port is not None
        shared = self.settings.workers > 1 and hasattr(socket, "SO_REUSEPORT")
        self._server = await asyncio.start_server(self._serve, self.settings.host or None, port,
                                                  reuse_port=shared or None, limit=MAX_LINE_BYTES)
        bound = self.addresses
        voices = sum(len(self.service.manager.voice_names(v)) for v in self.voices.versions_on_disk())
        logger.info("wyoming: {} ({} voices, streaming synthesis{}; Home Assistant: add the Wyoming Protocol "
                    "integration with this host and port)", ", ".join(url(*a) for a in bound), voices,
                    ", port shared by the workers" if shared else "")
        if self.settings.wyoming_zeroconf:
            self._announcement = await announce(self.settings.host, bound[0][1])
        return bound

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await WyomingSession(reader, writer, service=self.service, voices=self.voices, settings=self.settings,
                                 admission=self.admission, slots=self.slots).serve()
        finally:
            self._connections.discard(task)

    async def stop(self) -> None:
        """Stop listening, end every connection (its work closed), withdraw the announcement."""
        if self._announcement is not None:
            await self._announcement.withdraw()
            self._announcement = None
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=_STOP_WAIT_S)
        self._server = None
