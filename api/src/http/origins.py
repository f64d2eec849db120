"""CORS_ORIGINS enforced on the server: a disallowed site's request is refused before any work."""
from typing import Iterable

from .asgi import header, refuse_websocket, send_error


class OriginMiddleware:
    """Refuses, before any work, a request whose ``Origin`` header names a site CORS_ORIGINS does not allow.

    CORS only hides a response from the page: a "simple" request (a form post, ``text/plain``, no
    Content-Type) still runs on the server without a preflight. With ``*`` (the default) every origin is
    allowed; requests without an Origin (curl, SDKs, servers) are never refused here. Otherwise exactly
    the listed origins pass: an Origin that merely matches the request's ``Host`` is no proof of the
    server's own page (a DNS-rebinding page sends both), so the bundled web UI, whose POSTs carry its
    origin, needs that origin listed (e.g. ``http://tts.example.com:8880``). A WebSocket handshake is
    checked the same way (browsers send its Origin, and no CORS check protects it).
    """

    def __init__(self, app, allowed_origins: Iterable[str]):
        self.app = app
        origins = [o.rstrip("/") for o in allowed_origins]
        self.any = "*" in origins
        self.allowed = set(origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and not self.any:
            origin = header(scope, b"origin").rstrip("/")
            if origin and origin not in self.allowed:
                if scope["type"] == "websocket":   # a page on another site opening a socket (hijacking)
                    return await refuse_websocket(receive, send, 1008, "this origin is not allowed (CORS_ORIGINS)")
                return await send_error(send, 403, "this origin is not allowed (CORS_ORIGINS)", "origin_not_allowed")
        await self.app(scope, receive, send)
