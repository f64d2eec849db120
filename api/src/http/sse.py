"""OpenAI's SSE body for speech: ``speech.audio.delta`` events, then ``speech.audio.done``, or an
``error`` event in the OpenAI envelope when synthesis fails mid-stream."""
import base64
import json
from typing import AsyncGenerator

from loguru import logger

from ..core.exceptions import DomainError
from ..services.audio.streaming import encoded_audio
from ..services.speech import SpeechJob
from .errors import http_error


def _event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def sse_events(job: SpeechJob, fmt: str) -> AsyncGenerator[bytes, None]:
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
