"""A streamed response cut short on purpose (a slow reader, the shutdown drain, a refusal found mid-body):
its connection is dropped, and the request's own log line says why; nothing else is logged.

The only way to end a started response without its clean end is to raise out of the app, and the
server logs every such exception with a traceback (uvicorn's "Exception in ASGI application", and the
app's handler for unhandled errors before it). ``ResponseCut`` is what a cut raises instead, and
``QuietCuts`` is the logging filter that keeps uvicorn from logging it.
"""
import logging
from typing import Any, Optional

SCOPE_KEY = "kokoro.cut"


class CutNote:
    """Why a request's response was cut (``why``, set by whoever cuts it: ``client_watch``), and whether the
    request's own log line said so (``told``, set by the response that logged it). Kept in the ASGI scope
    under ``SCOPE_KEY``, so a shallow copy of the scope still shares it."""

    def __init__(self) -> None:
        self.why: Optional[str] = None
        self.told = False

    @staticmethod
    def of(scope: dict[str, Any]) -> Optional["CutNote"]:
        note = scope.get(SCOPE_KEY)
        return note if isinstance(note, CutNote) else None


class ResponseCut(Exception):
    """Raised out of a started response to drop its connection; already logged (one line), never again."""


class QuietCuts(logging.Filter):
    """Drops a log record whose exception is a ``ResponseCut`` (uvicorn's traceback of it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ResponseCut))


def install_quiet_cuts(logger_name: str = "uvicorn.error") -> None:
    """Add ``QuietCuts`` to the server's error logger, once per process (every app may call it)."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, QuietCuts) for f in target.filters):
        target.addFilter(QuietCuts())
