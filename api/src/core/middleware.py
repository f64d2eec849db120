"""Pure ASGI middleware: request ids, API keys and the request body limit.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched and a refusal costs
no body read.
"""
import hmac
import json
import re
import uuid
from typing import Iterable

from loguru import logger

from .errors import error_body

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


async def _send_error(send, status: int, message: str, error_type: str, code: str, headers=()) -> None:
    body = json.dumps(error_body(message, error_type, None, code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


class RequestIdMiddleware:
    """Gives every request an id (the client's X-Request-ID when sane), sends it back and logs with it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = _header(scope, b"x-request-id")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with logger.contextualize(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class ApiKeyMiddleware:
    """`Authorization: Bearer <key>` on every path but ``public_prefixes``, when keys are configured.

    Public by default: /health* (probes carry no key). The app adds the web UI's static files, which
    hold no secret and must load so that the user can type a key into the page.
    """

    def __init__(self, app, keys: Iterable[str], public_prefixes: tuple[str, ...] = ("/health",)):
        self.app = app
        self.keys = [k.encode() for k in keys if k]
        self.public_prefixes = public_prefixes

    def _public(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.public_prefixes)

    def _allowed(self, scope) -> bool:
        auth = _header(scope, b"authorization")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        token = token.strip().encode()
        return any(hmac.compare_digest(token, key) for key in self.keys)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.keys or self._public(scope["path"]) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        if not self._allowed(scope):
            return await _send_error(send, 401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                                     "invalid_request_error", "invalid_api_key",
                                     [(b"www-authenticate", b"Bearer")])
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, by Content-Length or while they stream in."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"request body is larger than {self.max_bytes} bytes (MAX_REQUEST_BYTES)"
        length = _header(scope, b"content-length")
        if length.isdigit() and int(length) > self.max_bytes:
            return await _send_error(send, 413, message, "invalid_request_error", "request_too_large")
        received, refused = 0, False

        async def limited_receive():
            # Past the limit: answer 413 ourselves and tell the app the client left.
            nonlocal received, refused
            event = await receive()
            if event["type"] == "http.request" and not refused:
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    await _send_error(send, 413, message, "invalid_request_error", "request_too_large")
                    return {"type": "http.disconnect"}
            return event

        async def guarded_send(event):
            if not refused:
                await send(event)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
