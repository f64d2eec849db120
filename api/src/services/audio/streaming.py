"""A speech job's PCM as encoded audio, piece by piece (the SSE framing is ``http.sse``'s)."""
from typing import AsyncGenerator

import anyio

from ..captions import WordTiming
from ..speech import SpeechJob
from .writer import StreamingAudioWriter

_CHEAP_FORMATS = ("pcm", "wav")   # no encoder: not worth a thread hop


async def encoded_pieces(job: SpeechJob, fmt: str) -> AsyncGenerator[tuple[bytes, list[WordTiming]], None]:
    """Encode each piece as it arrives, with the words spoken in it; the last item is the encoder's
    tail (no words). Encoding runs on a worker thread, never on the event loop. The job's seed names
    the Ogg stream (opus), so the same seeded request is the same bytes in every format."""
    writer = StreamingAudioWriter(fmt, serial=job.seed)

    async def call(fn, *args):
        return fn(*args) if fmt in _CHEAP_FORMATS else await anyio.to_thread.run_sync(fn, *args)

    try:
        async for piece in job.pieces():
            yield await call(writer.write, piece.pcm), piece.words
        yield await call(writer.finish), []
    finally:
        writer.close()   # the client left or something failed: free the encoder now


async def encoded_audio(job: SpeechJob, fmt: str) -> AsyncGenerator[bytes, None]:
    """The bytes of one audio file, sent as they are encoded."""
    async for data, _ in encoded_pieces(job, fmt):
        if data:
            yield data
