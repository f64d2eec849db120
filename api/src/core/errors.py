"""OpenAI's error envelope for every failure, and the exceptions the app raises to produce it.

Body: ``{"error": {"message", "type", "param", "code"}}`` with all four keys present, whatever the
status: validation, 4xx, overload and 5xx alike, so the official SDKs can read ``body["error"]``.
"""
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException


class APIError(Exception):
    """An error with its HTTP status and OpenAI error fields."""

    status_code = 400
    error_type = "invalid_request_error"

    def __init__(
        self,
        message: str,
        *,
        param: Optional[str] = None,
        code: Optional[str] = None,
        status_code: Optional[int] = None,
        headers: Optional[dict[str, str]] = None,
    ):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}


class InvalidRequest(APIError):
    """The request itself is wrong (400): unknown model or voice, bad input."""


class ServiceUnavailable(APIError):
    """The server cannot serve this now (503): a version is missing its files or still building."""

    status_code = 503
    error_type = "server_error"


class Conflict(APIError):
    """The request conflicts with the resource's state (409)."""

    status_code = 409
    error_type = "conflict_error"


class Forbidden(APIError):
    """The server's settings do not allow this (403)."""

    status_code = 403
    error_type = "permission_error"


class RequestTimeout(APIError):
    """The request ran past REQUEST_TIMEOUT_S (504)."""

    status_code = 504
    error_type = "timeout_error"


class Overloaded(APIError):
    """Too much queued work (429); the client should come back after ``retry_after`` seconds."""

    status_code = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after: int, code: str = "queue_full"):
        super().__init__(message, code=code, headers={"Retry-After": str(max(1, int(retry_after)))})


def error_body(message: str, error_type: str, param: Optional[str] = None, code: Optional[str] = None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(exc: APIError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.message, exc.error_type, exc.param, exc.code),
        status_code=exc.status_code,
        headers=exc.headers,
    )


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
    async def _api_error(_: Request, exc: APIError):
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        message = "; ".join(_validation_message(e) for e in errors[:5]) or "invalid request"
        code = "invalid_json" if first.get("type") == "json_invalid" else "invalid_value"
        return JSONResponse(
            error_body(message, "invalid_request_error", _validation_param(first), code), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        error_type = _STATUS_TYPES.get(exc.status_code,
                                       "server_error" if exc.status_code >= 500 else "invalid_request_error")
        return JSONResponse(
            error_body(str(exc.detail), error_type, None, None),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, exc: Exception):
        logger.opt(exception=exc).error("unhandled error")
        return JSONResponse(error_body("internal server error", "server_error", None, "internal_error"),
                            status_code=500)
