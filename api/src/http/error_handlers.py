"""The app's exception handlers: every error the framework or a handler raises leaves as OpenAI's
envelope (``errors.APIError``), its type from ``errors.error_type``."""
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core.exceptions import DomainError
from .cuts import ResponseCut
from .errors import APIError, http_error


def _validation_param(error: dict) -> Optional[str]:
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    return ".".join(loc) or None


def _validation_message(error: dict) -> str:
    param = _validation_param(error)
    message = error.get("msg", "invalid value")
    return f"{param}: {message}" if param else message


def validation_error(exc: RequestValidationError) -> APIError:
    """A body or query that does not validate: 400 (as OpenAI answers), naming the first bad field."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        # its loc is a byte offset, not a field: say where in the message, name no param
        offset = [part for part in first.get("loc", ()) if part != "body"]
        where = f" at byte {offset[0]}" if offset else ""
        reason = (first.get("ctx") or {}).get("error", "")
        return APIError(f"the body is not valid JSON{where}" + (f": {reason}" if reason else ""), code="invalid_json")
    message = "; ".join(_validation_message(e) for e in errors[:5]) or "invalid request"
    return APIError(message, param=_validation_param(first), code="invalid_value")


def http_exception_error(exc: StarletteHTTPException) -> APIError:
    """The framework's own errors: an unknown path (404), a wrong method (405), a body it could not parse
    (400; JSON nested deeper than the parser goes says so, it is no server error)."""
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        return APIError("the body is not valid JSON: it is nested deeper than this server reads", code="invalid_json")
    headers = dict(exc.headers) if exc.headers else None
    return APIError(str(exc.detail), status_code=exc.status_code, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    @app.exception_handler(DomainError)
    async def _api_error(_: Request, exc: Exception):
        return http_error(exc).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        return validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException):
        return http_exception_error(exc).response()

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, exc: Exception):
        if not isinstance(exc, ResponseCut):   # a cut is logged where it happens, in one line
            logger.opt(exception=exc).error("unhandled error")
        return APIError("internal server error", status_code=500, code="internal_error").response()
