"""Work requests carry JSON: a body without a Content-Type is read as JSON, any other type is a 415."""
import json

from ..core.exceptions import quote
from .asgi import WORK_PREFIXES, header, read_body, replay, send_error


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _reads_as_json(body: bytes) -> bool:
    """Whether ``body`` is JSON: it parses, or it is nested past the parser's depth (which the app's own
    parse then refuses with a 400 saying so, see ``error_handlers``)."""
    try:
        json.loads(body)
    except RecursionError:
        return True
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
        media_type = header(scope, b"content-type").split(";")[0].strip().lower()
        if media_type and not _is_json(media_type):
            # text/plain and forms are also what a browser sends cross-site without a preflight
            return await send_error(send, 415, f"this endpoint reads a JSON body: send Content-Type: "
                                    f"application/json (not {quote(media_type)})", "unsupported_media_type")
        if media_type:
            return await self.app(scope, receive, send)
        body = await read_body(receive)
        if body is None:
            return
        if body and _reads_as_json(body):
            scope = {**scope, "headers": [*scope.get("headers", ()), (b"content-type", b"application/json")]}
        await self.app(scope, replay(body, receive), send)
