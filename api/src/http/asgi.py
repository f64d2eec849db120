"""Small pieces the pure ASGI middlewares share: a refusal in OpenAI's envelope, header look-ups, and
reading a request body whole and handing it on.

The middlewares are pure ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched
and a refusal costs no body read.
"""
import json
from typing import Optional
from urllib.parse import parse_qs

from .errors import APIError

# POSTs under these paths are work requests with a JSON body: speech and its relatives, with or without /v1
WORK_PREFIXES = ("/v1/audio/", "/audio/", "/dev/")


async def send_error(send, status: int, message: str, code: str, headers=()) -> None:
    """A complete JSON response in OpenAI's error envelope (its type from the status)."""
    body = json.dumps(APIError(message, status_code=status, code=code).body()).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


async def refuse_websocket(receive, send, code: int, reason: str) -> None:
    """Refuse a WebSocket handshake so that a browser can read why: accepted, then closed at once with
    ``code`` and ``reason`` (closing before the accept is an HTTP 403 that a page sees as code 1006)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason[:120]})


def query_value(scope, name: str) -> str:
    """The first value of ``name`` in the request's query string ("" when absent)."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else ""


def header_bytes(scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return b""


def header(scope, name: bytes) -> str:
    return header_bytes(scope, name).decode("latin-1")


async def read_body(receive) -> Optional[bytes]:
    """The whole request body, or None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive):
    """A receive that gives the app ``body`` in one message, then what the client sends next (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed
