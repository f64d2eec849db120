"""Pure ASGI middleware: request ids, origins, API keys, the request body limit and admission (in-flight cap,
drain).

Pure ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched and a refusal costs
no body read.
"""
import asyncio
import hashlib
import hmac
import json
import re
import uuid
from typing import Iterable, Optional

from loguru import logger

from .errors import APIError
from .exceptions import quote

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# POSTs under these paths are work requests with a JSON body: speech and its relatives, with or without /v1
WORK_PREFIXES = ("/v1/audio/", "/audio/", "/dev/")


async def _send_error(send, status: int, message: str, error_type: str, code: str, headers=()) -> None:
    body = json.dumps(APIError(message, error_type=error_type, code=code).body()).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _header_bytes(scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return b""


def _header(scope, name: bytes) -> str:
    return _header_bytes(scope, name).decode("latin-1")


class RequestIdMiddleware:
    """Gives every request an id (the client's X-Request-ID when sane), sends it back and logs with it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = _header(scope, b"x-request-id")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
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
        # Digests of equal length: comparing them leaks neither a key's length nor a matching prefix.
        self.keys = [hashlib.sha256(k.encode()).digest() for k in keys if k]
        self.public_prefixes = public_prefixes

    def _public(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.public_prefixes)

    def _allowed(self, scope) -> bool:
        """The header's key (UTF-8; anything else is no key) against every configured key, in constant time:
        all keys are compared whatever matched, so the time says nothing about which one or how much."""
        raw = _header_bytes(scope, b"authorization")
        try:
            scheme, _, token = raw.decode("utf-8").partition(" ")
        except UnicodeDecodeError:
            return False
        digest = hashlib.sha256(token.strip().encode()).digest()
        matches = [hmac.compare_digest(digest, key) for key in self.keys]
        return scheme.lower() == "bearer" and bool(token.strip()) and any(matches)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.keys or self._public(scope["path"]) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        if not self._allowed(scope):
            return await _send_error(send, 401, "invalid or missing API key: send 'Authorization: Bearer <key>'",
                                     "invalid_request_error", "invalid_api_key",
                                     [(b"www-authenticate", b"Bearer")])
        await self.app(scope, receive, send)


class OriginMiddleware:
    """Refuses, before any work, a request whose ``Origin`` header names a site CORS_ORIGINS does not allow.

    CORS only hides a response from the page: a "simple" request (a form post, ``text/plain``, no
    Content-Type) still runs on the server without a preflight. With ``*`` (the default) every origin is
    allowed; requests without an Origin (curl, SDKs, servers) and the server's own pages (an Origin whose
    host is the request's Host, as the bundled web UI sends) are never refused here.
    """

    def __init__(self, app, allowed_origins: Iterable[str]):
        self.app = app
        origins = [o.rstrip("/") for o in allowed_origins]
        self.any = "*" in origins
        self.allowed = set(origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not self.any:
            origin = _header(scope, b"origin").rstrip("/")
            own = origin.partition("://")[2] == _header(scope, b"host")
            if origin and not own and origin not in self.allowed:
                return await _send_error(send, 403, "this origin is not allowed (CORS_ORIGINS)", "permission_error",
                                         "origin_not_allowed")
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
        if length.isascii() and length.isdigit() and int(length) > self.max_bytes:
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


class Admission:
    """Counts the work requests this process is serving and decides whether another may start.

    Shared by ``AdmissionMiddleware`` (which admits) and the shutdown drain (which waits for
    ``inflight`` to reach 0, then aborts what is left through ``tasks``). Event-loop use only.
    """

    def __init__(self, max_inflight: int, retry_after_s: int = 1):
        self.max_inflight = max_inflight
        self.retry_after_s = retry_after_s
        self.inflight = 0
        self.draining = False
        self.refused_busy = 0       # 429: over max_inflight
        self.refused_draining = 0   # 503: shutting down
        self.body_timeouts = 0      # 408: the body did not arrive in time
        self.tasks: set = set()     # the tasks serving admitted requests


async def _read_body(receive) -> Optional[bytes]:
    """The whole request body, or None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive):
    """A receive that gives the app ``body`` in one message, then what the client sends next (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _parses_as_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:   # JSONDecodeError, or bytes that are not UTF-8
        return False
    return True


class JsonBodyMiddleware:
    """Work requests (POSTs under ``work_prefixes``) carry JSON: reads a body sent without any Content-Type
    as JSON when it parses (curl-like clients), and refuses any other media type with 415 naming the fix.

    Runs inside OriginMiddleware and AdmissionMiddleware: a disallowed site is refused before its body is
    looked at, whatever its type, and the body read here is the one admission already holds. A body
    without a type that does not parse reaches the app unchanged (as before).
    """

    def __init__(self, app, work_prefixes: tuple[str, ...] = WORK_PREFIXES):
        self.app = app
        self.work_prefixes = work_prefixes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(self.work_prefixes):
            return await self.app(scope, receive, send)
        media_type = _header(scope, b"content-type").split(";")[0].strip().lower()
        if media_type and not _is_json(media_type):
            # text/plain and forms are also what a browser sends cross-site without a preflight
            return await _send_error(send, 415, f"this endpoint reads a JSON body: send Content-Type: "
                                     f"application/json (not {quote(media_type)})", "invalid_request_error",
                                     "unsupported_media_type")
        if media_type:
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        if body is None:
            return
        if body and _parses_as_json(body):
            scope = {**scope, "headers": [*scope.get("headers", ()), (b"content-type", b"application/json")]}
        await self.app(scope, _replay(body, receive), send)


class AdmissionMiddleware:
    """Caps the work requests in flight at MAX_INFLIGHT_PER_WORKER (429) and refuses all while draining (503).

    Work requests are POSTs under ``work_prefixes`` (speech and its relatives, with or without /v1). Their
    body is read whole first, within ``body_timeout_s`` (else 408), and only then do they count against the
    cap: a client that sends headers and then stalls holds no slot. Everything else passes uncounted, so listings, metrics and
    probes answer whatever the load. While draining (SIGTERM), any request but the probes gets 503 +
    Retry-After, and readiness (``/health``) answers 503 "draining" so that a load balancer stops sending; liveness
    stays as it is. Every refusal is an OpenAI envelope.
    """

    def __init__(self, app, admission: Admission, work_prefixes: tuple[str, ...] = WORK_PREFIXES,
                 probe_prefixes: tuple[str, ...] = ("/health", "/metrics"), body_timeout_s: float = 15.0):
        self.app = app
        self.admission = admission
        self.body_timeout_s = body_timeout_s
        self.work_prefixes = work_prefixes
        self.probe_prefixes = probe_prefixes

    def _is_probe(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.probe_prefixes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        adm, path = self.admission, scope["path"]
        retry = [(b"retry-after", str(adm.retry_after_s).encode())]
        if adm.draining:
            if path == "/health":
                body = json.dumps({"status": "draining", "reason": "the server is shutting down"}).encode()
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json"), *retry]})
                return await send({"type": "http.response.body", "body": body})
            if not self._is_probe(path) and scope["method"] != "OPTIONS":
                adm.refused_draining += 1
                return await _send_error(send, 503, "the server is shutting down; retry on another instance",
                                         "server_error", "server_shutting_down", retry)
        if scope["method"] != "POST" or not any(path.startswith(p) for p in self.work_prefixes):
            return await self.app(scope, receive, send)
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body = await _read_body(receive)
        except TimeoutError:
            adm.body_timeouts += 1
            return await _send_error(send, 408, f"the request body did not arrive within {self.body_timeout_s:g} s "
                                     "(BODY_READ_TIMEOUT_S)", "invalid_request_error", "body_timeout",
                                     [(b"connection", b"close")])
        if body is None:   # the client left (or the body limit refused it) before its body was complete
            return
        receive = _replay(body, receive)
        if adm.inflight >= adm.max_inflight:
            adm.refused_busy += 1
            return await _send_error(send, 429, f"this worker is serving {adm.inflight} requests, its limit "
                                     "(MAX_INFLIGHT_PER_WORKER); retry later", "rate_limit_error", "too_many_requests",
                                     retry)
        task = asyncio.current_task()
        adm.inflight += 1
        adm.tasks.add(task)
        started = False

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            # Only the drain's abort cancels us on purpose: answer 503 if nothing was sent yet;
            # otherwise propagate, so the server drops the connection (never a clean truncated file).
            if not adm.draining or started:
                raise
            task.uncancel()
            await _send_error(send, 503, "the server shut down before this request finished", "server_error",
                              "server_shutting_down", retry)
        finally:
            adm.inflight -= 1
            adm.tasks.discard(task)
