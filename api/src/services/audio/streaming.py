"""A speech job's PCM as the bytes of one response: encoded audio, or OpenAI's SSE events."""
import base64
import json
from typing import AsyncIterator

import anyio
from loguru import logger

from ...core.errors import http_error
from ...core.exceptions import DomainError
from ..captions import WordTiming
from ..speech import SpeechJob
from .writer import StreamingAudioWriter

_CHEAP_FORMATS = ("pcm", "wav")   # no encoder: not worth a thread hop


async def encoded_pieces(job: SpeechJob, fmt: str) -> AsyncIterator[tuple[bytes, list[WordTiming]]]:
    """Encode each piece as it arrives, with the words spoken in it; the last item is the encoder's
    tail (no words). Encoding runs on a worker thread, never on the event loop."""
    writer = StreamingAudioWriter(fmt)

    async def call(fn, *args):
        return fn(*args) if fmt in _CHEAP_FORMATS else await anyio.to_thread.run_sync(fn, *args)

    try:
        async for piece in job.pieces():
            yield await call(writer.write, piece.pcm), piece.words
        yield await call(writer.finish), []
    finally:
        writer.close()   # the client left or something failed: free the encoder now


async def encoded_audio(job: SpeechJob, fmt: str) -> AsyncIterator[bytes]:
    """The bytes of one audio file, sent as they are encoded."""
    async for data, _ in encoded_pieces(job, fmt):
        if data:
            yield data


def _event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def sse_events(job: SpeechJob, fmt: str) -> AsyncIterator[bytes]:
    """``speech.audio.delta`` events with base64 audio, then ``speech.audio.done`` with usage.

    A failure after the first event is reported as an ``error`` event, so the client never mistakes a
    truncated stream for a finished one.
    """
    try:
        async for data in encoded_audio(job, fmt):
            yield _event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
    except Exception as exc:
        if not isinstance(exc, DomainError):
            logger.opt(exception=exc).error("speech stream failed")
        yield _event({"type": "error", **http_error(exc).body()})
        return
    yield _event({"type": "speech.audio.done", "usage": job.usage.as_dict()})
