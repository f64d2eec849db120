"""OpenAI's error envelope for every failure, and the one table from domain errors to HTTP.

Body: ``{"error": {"message", "type", "param", "code"}}`` with all four keys present, whatever the
status: validation, 4xx, overload and 5xx alike, so the official SDKs can read ``body["error"]``.

Below the routers, code raises the plain exceptions of ``core.exceptions``; ``HTTP_ERRORS`` says what
each becomes (status, OpenAI error type, headers), and ``APIError`` is that HTTP error, which renders
itself (``body()``, ``response()``). Messages are cut to ``MAX_MESSAGE`` characters as a backstop for
anything that echoes client input without ``quote``.
"""
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from .exceptions import (Conflict, DomainError, Forbidden, InvalidRequest, NotFound, Overloaded, RequestTimeout,
                         ServiceUnavailable, UnsupportedMediaType)

MAX_MESSAGE = 2000   # a backstop: long enough for every voice name in a "not found" message


class APIError(Exception):
    """An HTTP error in OpenAI's shape: status, type, the OpenAI fields and response headers."""

    def __init__(self, message: str, *, status_code: int = 400, error_type: str = "invalid_request_error",
                 param: Optional[str] = None, code: Optional[str] = None, headers: Optional[dict[str, str]] = None):
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "…"
        super().__init__(message)
        self.message, self.status_code, self.error_type = message, status_code, error_type
        self.param, self.code, self.headers = param, code, headers or {}

    def body(self) -> dict:
        """The envelope, for a JSON response or an error event written mid-stream."""
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status_code, headers=self.headers)


def _retry_after(seconds: Optional[int]) -> dict[str, str]:
    return {"Retry-After": str(seconds)} if seconds is not None else {}


# domain error -> (status, OpenAI error type, headers from the error)
HTTP_ERRORS = {
    InvalidRequest: (400, "invalid_request_error", lambda e: {}),
    NotFound: (404, "invalid_request_error", lambda e: {}),
    Forbidden: (403, "permission_error", lambda e: {}),
    Conflict: (409, "conflict_error", lambda e: {}),
    Overloaded: (429, "rate_limit_error", lambda e: _retry_after(e.retry_after)),
    ServiceUnavailable: (503, "server_error",
                         lambda e: {**_retry_after(e.retry_after), **({} if e.retry else {"x-should-retry": "false"})}),
    UnsupportedMediaType: (415, "invalid_request_error", lambda e: {}),
    RequestTimeout: (504, "timeout_error", lambda e: {}),
}


def http_error(exc: BaseException) -> APIError:
    """What ``exc`` is on the wire: an APIError as it is, a domain error through ``HTTP_ERRORS``, anything
    else an opaque 500 (its details stay in the log)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, DomainError):
        for kind in type(exc).__mro__:
            if kind in HTTP_ERRORS:
                status, error_type, headers = HTTP_ERRORS[kind]
                return APIError(exc.message, status_code=status, error_type=error_type, param=exc.param,
                                code=exc.code, headers=headers(exc))
    return APIError("audio generation failed", status_code=500, error_type="server_error", code="generation_failed")


_STATUS_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                 409: "conflict_error", 429: "rate_limit_error"}


def _validation_param(error: dict) -> Optional[str]:
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    return ".".join(loc) or None


def _validation_message(error: dict) -> str:
    param = _validation_param(error)
    message = error.get("msg", "invalid value")
    return f"{param}: {message}" if param else message


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    @app.exception_handler(DomainError)
    async def _api_error(_: Request, exc: Exception):
        return http_error(exc).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            # its loc is a byte offset, not a field: say where in the message, name no param
            offset = [part for part in first.get("loc", ()) if part != "body"]
            where = f" at byte {offset[0]}" if offset else ""
            reason = (first.get("ctx") or {}).get("error", "")
            return APIError(f"the body is not valid JSON{where}" + (f": {reason}" if reason else ""),
                            code="invalid_json").response()
        message = "; ".join(_validation_message(e) for e in errors[:5]) or "invalid request"
        return APIError(message, param=_validation_param(first), code="invalid_value").response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        error_type = _STATUS_TYPES.get(exc.status_code,
                                       "server_error" if exc.status_code >= 500 else "invalid_request_error")
        return APIError(str(exc.detail), status_code=exc.status_code, error_type=error_type,
                        headers=exc.headers).response()

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, exc: Exception):
        logger.opt(exception=exc).error("unhandled error")
        return APIError("internal server error", status_code=500, error_type="server_error",
                        code="internal_error").response()
