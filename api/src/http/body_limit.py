"""MAX_REQUEST_BYTES: request bodies over the limit get 413, by Content-Length or while they stream in."""
from .asgi import header, send_error


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, by Content-Length or while they stream in."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = f"request body is larger than {self.max_bytes} bytes (MAX_REQUEST_BYTES)"
        length = header(scope, b"content-length")
        if length.isascii() and length.isdigit() and int(length) > self.max_bytes:
            return await send_error(send, 413, message, "request_too_large")
        received, refused = 0, False

        async def limited_receive():
            # Past the limit: answer 413 ourselves and tell the app the client left.
            nonlocal received, refused
            event = await receive()
            if event["type"] == "http.request" and not refused:
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    await send_error(send, 413, message, "request_too_large")
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
