"""What the HTTP server bounds before the app sees a request: the size of a request head and the time a
client may take to send it (slowloris). Uvicorn's default protocol (httptools) bounds neither, and
uvicorn's own timeout covers only an idle connection between requests.

``GuardedH11Protocol`` is uvicorn's h11 protocol with both: h11 refuses a head larger than
``h11_max_incomplete_event_size`` (400, connection closed, never more buffered than that and one read),
and a head not complete ``header_read_timeout_s`` after the connection opened (or, on a kept-alive
connection, after its first byte arrived; the idle time before is uvicorn's ``timeout_keep_alive``)
closes the connection. ``server_config`` is the uvicorn config ``python -m api`` runs.
With ``uvicorn api.src.main:app``, pass ``--http api.src.http.server_limits:GuardedH11Protocol
--h11-max-incomplete-event-size 65536`` (the head timeout is then the default of HEADER_READ_TIMEOUT_S).
"""
import asyncio
from typing import Any, Optional

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..core.config import Settings

DEFAULT_HEADER_READ_TIMEOUT_S: float = Settings.model_fields["header_read_timeout_s"].default


class GuardedH11Protocol(H11Protocol):
    """h11 with a deadline for each request head; see the module docstring. The deadline comes from the
    config's ``header_read_timeout_s`` (``server_config``), else the setting's default."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any):
        super().__init__(config, *args, **kwargs)
        self.header_read_timeout_s = getattr(config, "header_read_timeout_s", DEFAULT_HEADER_READ_TIMEOUT_S)
        self._head_deadline: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_deadline is None and self.conn.their_state is h11.IDLE:
            self._await_head()   # the first byte of the next head on a kept-alive connection
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:   # a complete head was parsed (or the connection ended)
            self._head_arrived()

    def _await_head(self) -> None:
        self._head_arrived()
        self._head_deadline = self.loop.call_later(self.header_read_timeout_s, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class GuardedConfig(uvicorn.Config):
    """A uvicorn config that carries ``header_read_timeout_s`` to ``GuardedH11Protocol`` (in every worker:
    the config is what uvicorn hands a worker process)."""

    def __init__(self, app: Any, *, header_read_timeout_s: float, **kwargs: Any):
        super().__init__(app, **kwargs)
        self.header_read_timeout_s = header_read_timeout_s


def server_config(app: str, settings: Settings, **kwargs: Any) -> GuardedConfig:
    """The uvicorn config for ``app`` with the request-head bounds of ``settings`` (HEADER_READ_TIMEOUT_S,
    MAX_HEADER_BYTES) and the WebSocket message bound (STREAM_MAX_MESSAGE_BYTES: a larger frame is refused
    by the protocol before it is buffered; the socket session checks it again under any other server);
    ``kwargs`` go to uvicorn as they are."""
    return GuardedConfig(app, http=GuardedH11Protocol, h11_max_incomplete_event_size=settings.max_header_bytes,
                         header_read_timeout_s=settings.header_read_timeout_s,
                         ws_max_size=settings.stream_max_message_bytes, **kwargs)
