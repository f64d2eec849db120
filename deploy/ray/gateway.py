"""The HTTP face of the Ray deployment: forwards each request to a model replica, streams the answer back.

It exists because Ray's own proxy answers its backpressure with a plain-text body; here a rejection
becomes our OpenAI error envelope (429 + ``Retry-After``), and a replica that died before it answered
is replaced by another one without the client noticing. It loads no model and imports no torch.
"""
import asyncio
from typing import Optional

from ray.exceptions import RayActorError, RayTaskError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from .bridge import ForwardedRequest, read_request, send_error, serve_lifespan

# A request is re-sent only while nothing of its answer has reached the client.
MAX_ATTEMPTS = 3


class GatewayApp:
    """ASGI app forwarding to ``handle.handle_http`` (a streaming method yielding ASGI messages)."""

    def __init__(self, handle, retry_after_s: int):
        self.handle = handle.options(stream=True)
        self.retry_after_s = retry_after_s

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await serve_lifespan(receive, send)
        if scope["type"] != "http":
            return
        request = await read_request(scope, receive)
        if request is None:
            return
        gone = asyncio.create_task(_client_gone(receive))
        try:
            opening = asyncio.create_task(self._open(request, send))
            await asyncio.wait({opening, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not opening.done():  # the client left while its request waited for a replica
                opening.cancel()
                await asyncio.gather(opening, return_exceptions=True)
                return
            opened = opening.result()
            if opened is None:
                return
            first, stream = opened
            await send(first)
            await self._relay(stream, gone, send)
        finally:
            gone.cancel()

    async def _open(self, request: ForwardedRequest, send):
        """The replica's first message and its stream, or None once an error response has been sent."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            stream = self.handle.handle_http.remote(request)
            try:
                return await stream.__anext__(), stream
            except asyncio.CancelledError:
                stream.cancel()
                raise
            except BackPressureError as exc:
                retry_after = _retry_after(exc.retry_after_s, self.retry_after_s)
                await send_error(send, 429, f"server busy: every replica's queue is full; retry in {retry_after}s",
                                 "queue_full", [(b"retry-after", retry_after.encode())])
                return None
            except DeploymentUnavailableError as exc:
                await send_error(send, 503, exc.message, "deployment_unavailable",
                                 [(b"retry-after", str(self.retry_after_s).encode())])
                return None
            except RayTaskError as exc:
                await send_error(send, 500, f"replica failed: {type(exc.cause).__name__}",
                                 "internal_error")
                return None
            except RayActorError:
                if attempt == MAX_ATTEMPTS:
                    await send_error(send, 503, "no model replica could take the request; retry shortly",
                                     "replica_unavailable",
                                     [(b"retry-after", str(self.retry_after_s).encode())])
                    return None

    @staticmethod
    async def _relay(stream, gone: asyncio.Task, send) -> None:
        """Pass the rest of the answer on; a client that leaves (``gone``) cancels the replica's work at once."""

        async def pump():
            async for message in stream:
                await send(message)

        pumping = asyncio.create_task(pump())
        try:
            await asyncio.wait({pumping, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            pumping.cancel()  # a no-op when it is done
            await asyncio.gather(pumping, return_exceptions=True)
        failure = None if pumping.cancelled() else pumping.exception()
        if pumping.cancelled() or failure is not None:
            stream.cancel()
        if failure is not None:
            # A replica failing mid-answer raises here, so the server aborts the connection rather
            # than ending a truncated body cleanly.
            raise failure


async def _client_gone(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _retry_after(configured: Optional[float], fallback: int) -> str:
    seconds = fallback if configured is None else configured
    return str(max(1, int(-(-seconds // 1))))
