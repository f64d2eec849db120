"""API_KEYS: ``Authorization: Bearer <key>`` on every path but the public ones."""
import hashlib
import hmac
from typing import Iterable

from .asgi import header_bytes, query_value, refuse_websocket, send_error

# Browsers cannot set headers on a WebSocket: the key may come in the URL instead (never logged: main's
# log filter redacts it)
WEBSOCKET_KEY_PARAM = "api_key"


class ApiKeyMiddleware:
    """`Authorization: Bearer <key>` on every path but ``public_prefixes``, when keys are configured;
    otherwise 401 (``invalid_api_key``, ``WWW-Authenticate: Bearer``).

    Public by default: /health* (probes carry no key). The app adds the web UI's static files, which
    hold no secret and must load so that the user can type a key into the page.
    """

    def __init__(self, app, keys: Iterable[str], public_prefixes: tuple[str, ...] = ("/health",)):
        self.app = app
        # Digests of equal length: comparing them leaks neither a key's length nor a matching prefix.
        self.keys = [hashlib.sha256(k.encode()).digest() for k in keys if k]
        self.public_prefixes = public_prefixes

    def _public(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.public_prefixes)

    def _allowed(self, scope) -> bool:
        """The header's key (UTF-8; anything else is no key) against every configured key, in constant time:
        all keys are compared whatever matched, so the time says nothing about which one or how much."""
        raw = header_bytes(scope, b"authorization")
        try:
            scheme, _, token = raw.decode("utf-8").partition(" ")
        except UnicodeDecodeError:
            return False
        return scheme.lower() == "bearer" and self._known(token.strip())

    def _known(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        matches = [hmac.compare_digest(digest, key) for key in self.keys]
        return bool(token) and any(matches)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and self.keys and not self._public(scope["path"]):
            if not (self._allowed(scope) or self._known(query_value(scope, WEBSOCKET_KEY_PARAM))):
                return await refuse_websocket(receive, send, 1008, "invalid or missing API key: send "
                                              "'Authorization: Bearer <key>' or ?api_key=<key>")
            return await self.app(scope, receive, send)
        if scope["type"] != "http" or not self.keys or self._public(scope["path"]) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        if not self._allowed(scope):
            return await send_error(send, 401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                                    "invalid_api_key", [(b"www-authenticate", b"Bearer")])
        await self.app(scope, receive, send)
