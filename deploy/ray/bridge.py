"""One HTTP exchange carried between two processes as plain, picklable data.

The gateway reads the client's request into a ``ForwardedRequest`` dict; a replica runs it through the
real ASGI app and yields the app's ASGI ``send`` messages in order, as the app produces them, so a
streamed body or SSE leaves the replica chunk by chunk. Nothing here imports Ray: the contract can be
tested in one process.
"""
import asyncio
from typing import Any, AsyncIterator, Iterable, Optional

from api.src.http.asgi import send_error  # noqa: F401  (the gateway's refusals: one envelope)

ForwardedRequest = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

# Messages the app may run ahead of a slow consumer before its `send` waits: the app's own slow-reader
# logic keeps working across the hop, and a replica holds at most this much unsent audio per request.
SEND_BUFFER = 16


async def read_request(scope: dict, receive) -> Optional[ForwardedRequest]:
    """The whole request (its body is small: JSON); None when the client left before sending it all."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    client = scope.get("client")
    return {
        "method": scope["method"],
        "scheme": scope.get("scheme", "http"),
        "http_version": scope.get("http_version", "1.1"),
        "path": scope["path"],
        "raw_path": scope.get("raw_path") or scope["path"].encode(),
        # Under a route prefix the path still starts with it; root_path tells the app what to strip.
        "root_path": scope.get("root_path", ""),
        "query_string": scope.get("query_string", b""),
        "headers": [(bytes(k), bytes(v)) for k, v in scope.get("headers", ())],
        "client": list(client) if client else None,
        "server": list(scope["server"]) if scope.get("server") else None,
        "body": bytes(body),
    }


def _scope(request: ForwardedRequest) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request["http_version"],
        "method": request["method"],
        "scheme": request["scheme"],
        "path": request["path"],
        "raw_path": request["raw_path"],
        "root_path": request["root_path"],
        "query_string": request["query_string"],
        "headers": list(request["headers"]),
        "client": tuple(request["client"]) if request["client"] else None,
        "server": tuple(request["server"]) if request["server"] else None,
        "state": {},
    }


async def run_asgi(app, request: ForwardedRequest, extra_headers: Iterable[tuple[bytes, bytes]] = ()
                   ) -> AsyncIterator[dict]:
    """Run ``request`` through ``app`` and yield its ``send`` messages, ``extra_headers`` added to the start.

    Closing the generator early (the client left) tells the app ``http.disconnect`` and cancels it, so
    its queued work is dropped as for a direct client. An exception the app raises after the response
    started propagates, so the caller aborts the connection instead of ending a truncated body cleanly.
    """
    extra_headers = list(extra_headers)
    messages: asyncio.Queue = asyncio.Queue(SEND_BUFFER)
    client_left = asyncio.Event()
    body_given = False
    finished = object()

    async def receive():
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": request["body"], "more_body": False}
        await client_left.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if client_left.is_set():
            raise OSError("client disconnected")
        await messages.put(message)

    async def run():
        try:
            await app(_scope(request), receive, send)
        finally:
            if not client_left.is_set():  # else nobody reads the queue (and it may be full)
                await messages.put(finished)

    task = asyncio.create_task(run())
    complete = False
    try:
        while (message := await messages.get()) is not finished:
            if message["type"] == "http.response.start" and extra_headers:
                message = {**message, "headers": [*message.get("headers", ()), *extra_headers]}
            complete = message["type"] == "http.response.body" and not message.get("more_body", False)
            yield message
        try:
            await task
        except Exception:
            # Starlette re-raises after it has sent its own 500: the client already has a whole
            # answer, so only a failure in the middle of a response may abort the exchange.
            if not complete:
                raise
    finally:
        client_left.set()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def serve_lifespan(receive, send) -> None:
    """Answer the ASGI lifespan protocol for an app that has nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
