"""OpenAI's error envelope for every failure, and the one table from domain errors to HTTP.

Body: ``{"error": {"message", "type", "param", "code"}}`` with all four keys present, whatever the
status: validation, 4xx, overload and 5xx alike, so the official SDKs can read ``body["error"]``.

Below the HTTP layer, code raises the plain exceptions of ``core.exceptions``; ``HTTP_ERRORS`` says
what status and headers each becomes, ``error_type`` gives every status its one OpenAI error type, and
``APIError`` is that HTTP error, which renders itself (``body()``, ``response()``). Messages are cut to
``MAX_MESSAGE`` characters as a backstop for anything that echoes client input without ``quote``.
"""
from typing import Callable, Optional

from fastapi.responses import JSONResponse

from ..core.exceptions import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidRequest,
    NotFound,
    Overloaded,
    RequestTimeout,
    ServiceUnavailable,
    UnsupportedMediaType,
)

MAX_MESSAGE = 2000   # a backstop: long enough for every voice name in a "not found" message

# The statuses whose type is not the default of their class (4xx: invalid_request_error, 5xx: server_error)
_SPECIFIC_TYPES = {403: "permission_error", 409: "conflict_error", 429: "rate_limit_error", 504: "timeout_error"}


def error_type(status: int) -> str:
    """The OpenAI error ``type`` of an HTTP status; every error response takes its type from here.

    OpenAI's own API answers a bad or missing key (401) and an unknown model or path (404) with
    ``invalid_request_error``, and that is what this server has always sent for its 401s and for a
    ``NotFound``: so 401 and 404 are ``invalid_request_error`` like every other client error (400,
    405, 408, 413, 415, 422). The types this server has documented and tested for other statuses stay:
    ``permission_error`` (403), ``conflict_error`` (409), ``rate_limit_error`` (429, OpenAI's too),
    ``timeout_error`` (504); any other 5xx is ``server_error``. The SDKs pick their exception class from
    the status, so the type never decides how a client reacts; it only has to be the same every time.
    """
    if status in _SPECIFIC_TYPES:
        return _SPECIFIC_TYPES[status]
    return "server_error" if status >= 500 else "invalid_request_error"


class APIError(Exception):
    """An HTTP error in OpenAI's shape: status (its type from ``error_type``), the OpenAI fields and
    response headers."""

    def __init__(self, message: str, *, status_code: int = 400, param: Optional[str] = None,
                 code: Optional[str] = None, headers: Optional[dict[str, str]] = None):
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "…"
        super().__init__(message)
        self.message, self.status_code, self.error_type = message, status_code, error_type(status_code)
        self.param, self.code, self.headers = param, code, headers or {}

    def body(self) -> dict:
        """The envelope, for a JSON response or an error event written mid-stream."""
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status_code, headers=self.headers)


def _retry_after(seconds: Optional[int]) -> dict[str, str]:
    return {"Retry-After": str(seconds)} if seconds is not None else {}


def _no_headers(_: DomainError) -> dict[str, str]:
    return {}


def _unavailable_headers(exc: ServiceUnavailable) -> dict[str, str]:
    return {**_retry_after(exc.retry_after), **({} if exc.retry else {"x-should-retry": "false"})}


# domain error -> (status, headers from the error); the type follows from the status (error_type)
HTTP_ERRORS: dict[type, tuple[int, Callable]] = {
    InvalidRequest: (400, _no_headers),
    NotFound: (404, _no_headers),
    Forbidden: (403, _no_headers),
    Conflict: (409, _no_headers),
    Overloaded: (429, lambda e: _retry_after(e.retry_after)),
    ServiceUnavailable: (503, _unavailable_headers),
    UnsupportedMediaType: (415, _no_headers),
    RequestTimeout: (504, _no_headers),
}


def http_error(exc: BaseException) -> APIError:
    """What ``exc`` is on the wire: an APIError as it is, a domain error through ``HTTP_ERRORS``, anything
    else an opaque 500 (its details stay in the log)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, DomainError):
        for kind in type(exc).__mro__:
            if kind in HTTP_ERRORS:
                status, headers = HTTP_ERRORS[kind]
                return APIError(exc.message, status_code=status, param=exc.param, code=exc.code,
                                headers=headers(exc))
    return APIError("audio generation failed", status_code=500, code="generation_failed")
