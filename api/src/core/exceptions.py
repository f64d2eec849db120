"""What can go wrong with a request, as plain exceptions: no HTTP here.

Every layer below the HTTP layer raises these. Each carries the OpenAI error fields a client needs
(``message``, ``param``, ``code``); ``http.errors`` maps each class to its HTTP status and headers in
one table (and each status to its OpenAI error type). A message that echoes what the client sent goes
through ``quote``, so an error never repeats more than a short prefix of attacker-sized input.
"""
from typing import Optional

ECHO_LIMIT = 80   # characters of a client's value an error message repeats


def quote(value: object, limit: int = ECHO_LIMIT) -> str:
    """``repr`` of a client-sent value for an error message, cut to ``limit`` characters (then '…')."""
    text = str(value)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


class DomainError(Exception):
    """A request the server will not (or cannot now) serve, with OpenAI's ``param`` and ``code``."""

    def __init__(self, message: str, *, param: Optional[str] = None, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequest(DomainError):
    """The request itself is wrong: unknown model or voice, bad input."""


class NotFound(DomainError):
    """What the request names does not exist (a model id, a download)."""


class Forbidden(DomainError):
    """The server's settings do not allow this."""


class Conflict(DomainError):
    """The request conflicts with the resource's state."""


class UnsupportedMediaType(DomainError):
    """The body comes in a form this endpoint does not read."""


class RequestTimeout(DomainError):
    """The request ran past REQUEST_TIMEOUT_S."""


class ServiceUnavailable(DomainError):
    """The server cannot serve this now: a version is missing its files, failed or is still building, or
    the server is draining. ``retry=False``: retrying will not help (a configuration problem);
    ``retry_after``: seconds after which it may."""

    def __init__(self, message: str, *, param: Optional[str] = None, code: Optional[str] = None,
                 retry: bool = True, retry_after: Optional[int] = None):
        super().__init__(message, param=param, code=code)
        self.retry = retry
        self.retry_after = retry_after


class Overloaded(DomainError):
    """Too much queued work; the client should come back after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float, code: str = "queue_full"):
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))
