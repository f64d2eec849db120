"""One reply streamed in as text and out as audio: ``LiveContext`` (the socket route's and Wyoming's core).

The context takes text deltas (``add``), ``flush``, ``end`` and ``cancel``. ``IncrementalText`` decides
which parts of the text are settled; each settled part, together with any others that settled while the
last one was spoken, becomes one ``SpeechJob`` through ``SpeechService.start_part``: the same markup,
pronunciations, normalization, voices, admission and fair scheduling as a whole request. Only one job
runs at a time, so a context with nothing left to speak holds no scheduler slot. Its audio is one
stream in the context's format (one encoder for the whole context), sent through ``emit`` as
``LiveAudio`` events with word timings in the context's terms: seconds from its first audio, spans of
the text streamed into it. Then ``LiveFlushed`` after the audio of the text up to a ``flush``,
``LiveDone`` at the end, or ``LiveFailed`` with the error that ended the context (its unspoken text is
dropped, and the event says so).

A quiet gap in the input (``quiet_s`` without a delta) speaks what is buffered. A part that starts while
the listener still has audio (more than ``_AHEAD_S`` ahead of real time) continues it: the chunk ramp
and the join pause carry on; after a silence, the next part starts like a new request (a short first
chunk, so its audio comes soon).
"""
import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, Optional, Union

import anyio

from ...builds.base import SAMPLE_RATE, SAMPLES_PER_FRAME
from ...structures.schemas import SpeechRequest
from ..audio.writer import StreamingAudioWriter
from ..captions import WordTiming
from ..text_processing.incremental import IncrementalText, TextPart
from ..text_processing.markup import InlineState
from .job import SpeechJob, Usage
from .service import SpeechService

_AHEAD_S = 1.0          # audio the listener still has: a new part continues it rather than restarting
_CHEAP_FORMATS = ("pcm", "wav")   # no encoder worth a thread hop


@dataclass(frozen=True)
class LiveAudio:
    data: bytes                   # the next bytes of the context's audio stream
    words: list[WordTiming]


@dataclass(frozen=True)
class LiveFlushed:
    pass


@dataclass(frozen=True)
class LiveDone:
    usage: Usage


@dataclass(frozen=True)
class LiveFailed:
    error: BaseException


LiveEvent = Union[LiveAudio, LiveFlushed, LiveDone, LiveFailed]


class _Flush:
    """In the queue after the parts of a ``flush``: ``LiveFlushed`` once they are spoken."""


class _End:
    """The last item of the queue: ``LiveDone`` once everything before it is spoken."""


class LiveContext:
    """One streamed reply; see the module docstring. ``emit`` is awaited for each event in order (a slow
    listener slows the context down: it is the context's backpressure)."""

    def __init__(self, service: SpeechService, request: SpeechRequest, emit: Callable[[LiveEvent], Awaitable[None]],
                 *, quiet_s: float):
        self.service = service
        self.request = request
        self.emit = emit
        self.quiet_s = quiet_s
        self.text = IncrementalText(service.settings.max_input_chars, whole_only=request.ssml)
        self._queue: deque = deque()
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task] = None
        self._quiet: Optional[asyncio.TimerHandle] = None
        self._job: Optional[SpeechJob] = None
        self._state = InlineState()
        self._writer = StreamingAudioWriter(request.response_format, serial=request.seed or 0)
        self._samples = 0
        self._tokens = 0
        self._first_audio_at: Optional[float] = None
        self._last_part: Optional[TextPart] = None
        self.ended = False     # no more text will come (end, cancel or failure)
        self.closed = False

    async def open(self) -> "LiveContext":
        """Check the request as the HTTP route would (model, voice, pronunciations): raises what refuses it."""
        await self.service.check_request(self.request)
        self._task = asyncio.create_task(self._run())
        return self

    @property
    def speaking(self) -> bool:
        """Text queued or being spoken (an open context that waits for text is not speaking)."""
        return not self.closed and (self._job is not None or bool(self._queue))

    @property
    def usage(self) -> Usage:
        return Usage(self._tokens, math.ceil(self._samples / SAMPLES_PER_FRAME))

    # -- input ---------------------------------------------------------------------------------------
    def add(self, delta: str) -> None:
        """Append text (raises InvalidRequest past MAX_INPUT_CHARS buffered)."""
        self._check_open()
        self._put(self.text.add(delta))
        self._arm_quiet()

    def flush(self) -> None:
        self._check_open()
        self._put(self.text.flush())
        self._queue.append(_Flush())
        self._wake.set()

    def end(self) -> None:
        self._check_open()
        self._put(self.text.flush())
        self._queue.append(_End())
        self.ended = True
        self._wake.set()

    def cancel(self) -> None:
        """Stop now: queued text and audio dropped, the job closed (its chunks leave the scheduler)."""
        self.ended = True
        self.close()

    def _check_open(self) -> None:
        if self.ended:
            raise RuntimeError("the context has ended")

    def _put(self, part: Optional[TextPart]) -> None:
        if part is not None:
            self._queue.append(part)
            self._wake.set()

    def _arm_quiet(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        if self.text.buffered.strip() and not self.ended:
            self._quiet = asyncio.get_running_loop().call_later(self.quiet_s, self._on_quiet)

    def _on_quiet(self) -> None:
        self._quiet = None
        if not self.ended and not self.closed:
            self._put(self.text.flush(quiet=True))

    # -- output --------------------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                item = self._queue.popleft()
                if isinstance(item, _End):
                    tail = await self._encode(self._writer.finish)
                    if tail:
                        await self.emit(LiveAudio(tail, []))
                    await self.emit(LiveDone(self.usage))
                    return
                if isinstance(item, _Flush):
                    await self.emit(LiveFlushed())
                    continue
                await self._speak(self._merged(item))
        except asyncio.CancelledError:
            raise
        except Exception as exc:   # the error that ends the context: the listener is told
            self.ended = True
            await self.emit(LiveFailed(exc))
        finally:
            self.close()
            self._writer.close()   # here, not in close(): an encoder call in a thread has returned by now

    def _merged(self, part: TextPart) -> TextPart:
        """``part`` and the parts that settled after it, as one (they are contiguous in the stream)."""
        while self._queue and isinstance(self._queue[0], TextPart):
            following = self._queue.popleft()
            part = TextPart(part.start, part.text + following.text, part.forced or following.forced)
        return part

    async def _speak(self, part: TextPart) -> None:
        ahead = 0.0
        if self._first_audio_at is not None:
            ahead = self._samples / SAMPLE_RATE - (time.perf_counter() - self._first_audio_at)
        continues = ahead > _AHEAD_S and self._last_part is not None
        lead = self.service.join.pause_after(self._last_part.text.rstrip()) if continues and self._last_part else 0
        job, self._state = await self.service.start_part(
            self.request, part, self._state, spoken=self._tokens if continues else 0, lead_frames=lead)
        self._last_part = part
        if job is None:
            return
        self._job = job
        base = self._samples / SAMPLE_RATE
        try:
            async for piece in job.pieces():
                data = await self._encode(self._writer.write, piece.pcm)
                if self._first_audio_at is None and len(piece.pcm):
                    self._first_audio_at = time.perf_counter()
                self._samples += len(piece.pcm)
                words = [replace(w, start_time=round(w.start_time + base, 3), end_time=round(w.end_time + base, 3))
                         for w in piece.words]
                if data or words:
                    await self.emit(LiveAudio(data, words))
        finally:
            self._tokens += job.usage.input_tokens
            job.close()
            self._job = None

    async def _encode(self, fn, *args) -> bytes:
        if self.request.response_format in _CHEAP_FORMATS:
            return fn(*args)
        return await anyio.to_thread.run_sync(fn, *args)

    def close(self) -> None:
        """End the context now (idempotent): the runner stopped, the job closed, the encoder freed."""
        if self.closed:
            return
        self.closed = True
        self.ended = True
        if self._quiet is not None:
            self._quiet.cancel()
        if self._job is not None:
            self._job.close()
        if self._task is None:
            self._writer.close()
        elif self._task is not asyncio.current_task() and not self._task.done():
            self._task.cancel()   # the runner closes the encoder as it stops
