"""Every audio answer is built here: its headers, streamed or whole, and its cleanup.

``audio_response`` turns a started ``SpeechJob`` and the body generator made from it (encoded audio,
SSE events, NDJSON lines) into a response. Whatever way the response ends (finished, failed, or the
client gone mid-stream), the job is closed (its queued chunks dropped), the body generator is closed
at once (its encoder freed then, not whenever the generator is collected) and ``on_end(status)`` is
called once with ``ok``, ``disconnected``, ``failed: <Error>`` or ``error <status>``.

Streamed: a failure mid-body propagates, which aborts the connection, so a truncated file never looks
finished. A cut (``CUTS``: a slow reader, the shutdown drain, a refusal found mid-body) is logged as
the request's one line (``cut: <why>``) and leaves as ``http.cuts.ResponseCut``, which nothing logs
again; any other failure keeps its traceback. Whole (``stream: false``): the body is gathered and
passed to ``whole`` (default: the bytes joined into one ``Response``, completed by ``complete_file`` when
``fmt`` is given: a WAV then carries its true sizes); a domain error raised before the end becomes its
error envelope.
"""
from typing import Any, AsyncGenerator, Callable, Optional

from fastapi.responses import Response, StreamingResponse

from ..core.exceptions import DomainError
from ..http.cuts import CutNote, ResponseCut
from ..http.errors import http_error
from ..inference.scheduler import SlowReader
from ..services.audio.writer import complete_file
from ..services.speech import SpeechJob

OnEnd = Callable[[str], None]
CUTS = (DomainError, SlowReader)   # a streamed response ended early on purpose, with a reason to log


def _ignore(status: str) -> None:
    pass


def audio_headers(job: SpeechJob, fmt: Optional[str] = None) -> dict[str, str]:
    """The headers every audio answer carries: the seed that reproduces it and the version that spoke."""
    headers = {"X-Seed": str(job.seed), "X-Model-Version": job.backend.version}
    if fmt:
        headers["Content-Disposition"] = f"attachment; filename=speech.{fmt}"
    return headers


async def _closing(job: SpeechJob, body: AsyncGenerator[Any, None], on_end: OnEnd,
                   note: Optional[CutNote] = None) -> AsyncGenerator[Any, None]:
    status = "ok"
    try:
        async for item in body:
            yield item
    except BaseException as exc:
        if not isinstance(exc, Exception):
            status = "disconnected"
            if note is not None and note.why:   # cut by the server (client_watch), not left by the client
                status, note.told = f"cut: {note.why}", True
        else:
            status = f"cut: {exc}" if isinstance(exc, CUTS) else f"failed: {type(exc).__name__}"
        raise
    finally:
        job.close()
        await body.aclose()
        on_end(status)


class _ClosingStreamingResponse(StreamingResponse):
    """A streaming response that closes its body when it ends, however it ends: a client that stops
    reading and then leaves cancels the send while the body waits at a ``yield``, which Starlette never
    resumes (so the body's cleanup would wait for the garbage collector)."""

    def __init__(self, body: AsyncGenerator[Any, None], note: CutNote, **kwargs: Any):
        super().__init__(body, **kwargs)
        self._body = body   # the body_iterator itself, kept with the type that can be closed
        self._note = note

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except CUTS as exc:   # already the request's log line: drop the connection, log nothing more
            raise ResponseCut(str(exc)) from None
        except BaseException:
            note = CutNote.of(scope)
            self._note.why = note.why if note is not None else None   # for the body's log line, closed below
            raise
        finally:
            await self._body.aclose()


async def audio_response(job: SpeechJob, body: AsyncGenerator[Any, None], *, media_type: str, headers: dict[str, str],
                         stream: bool, on_end: OnEnd = _ignore,
                         whole: Optional[Callable[[list], Response]] = None, fmt: Optional[str] = None) -> Response:
    """The response for ``job``: ``body`` streamed as it is made, or gathered and rendered by ``whole``."""
    if stream:
        note = CutNote()
        return _ClosingStreamingResponse(_closing(job, body, on_end, note), note, media_type=media_type,
                                         headers=headers)
    items = []
    try:
        async for item in _closing(job, body, _ignore):
            items.append(item)
    except DomainError as exc:
        error = http_error(exc)
        on_end(f"error {error.status_code}")
        return error.response()
    except Exception:
        on_end("error 500")
        raise
    on_end("ok")
    if whole is not None:
        return whole(items)
    data = b"".join(items)
    return Response(complete_file(fmt, data) if fmt else data, media_type=media_type, headers=headers)
