"""One Wyoming connection: ``WyomingSession``; its events, bounds and errors.

Events are read with the ``wyoming`` package's framing (``async_read_event``, through a reader that
refuses an event larger than the text a request may hold) and handled in order by one worker task:

- ``describe`` -> ``info`` (``voices.WyomingVoices``); ``ping`` -> ``pong``; anything else that is no
  TTS event (``select-program``, other domains) is dropped, as the protocol asks.
- ``synthesize`` -> ``audio-start`` (24 kHz, 16-bit, mono), ``audio-chunk``s as the chunks finish,
  ``audio-stop``: the whole text as ``POST /v1/audio/speech`` takes it (``SpeechService.start``).
- ``synthesize-start`` opens a stream: one ``LiveContext`` (``services.speech.live``), which speaks each
  sentence as soon as its text is complete; ``synthesize-chunk``s are its deltas, ``synthesize-stop``
  its end, answered by the last audio, ``audio-stop`` and ``synthesize-stopped``. The ``synthesize``
  a client sends inside a stream (the protocol's copy for servers that do not stream) is ignored.
- A request refused or failed is an ``error`` event (text and code, as the HTTP error's message and
  code); the connection stays usable. A stream that failed drops its remaining events and answers its
  ``synthesize-stop`` with ``synthesize-stopped`` alone.

Everything sent goes through one bounded outbox and one sender task: a client that stops reading
pauses its reply (the speech's ``emit`` waits) and, after ``SLOW_READER_TIMEOUT_S`` without taking a
byte, is disconnected. A client that disconnects, or sends nothing for WYOMING_IDLE_TIMEOUT_S while
nothing is spoken, ends its connection and cancels its work at once (the job closed, its place in the
scheduler freed). API keys do not apply here: Wyoming has no way to carry one.
"""
import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional

from loguru import logger
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeTextFormat,
    SynthesizeVoice,
)

from ..builds.base import SAMPLE_RATE
from ..core.config import Settings
from ..core.exceptions import DomainError, InvalidRequest, Overloaded, ServiceUnavailable
from ..core.slots import Slots
from ..http.admission import Admission
from ..services.speech.live import LiveAudio, LiveContext, LiveDone, LiveEvent, LiveFailed
from ..services.speech.service import SpeechService
from ..structures.schemas import SpeechRequest
from .voices import WyomingVoices

WIDTH, CHANNELS = 2, 1                 # 16-bit mono
CHUNK_BYTES = 4096 * WIDTH             # audio in one audio-chunk event (171 ms)
MAX_LINE_BYTES = 64 * 1024             # an event's JSON header line (the StreamReader's limit)
_OUTBOX = 16                           # events waiting for the client
_INBOX = 16                            # events read ahead of the worker
_CLOSE_WAIT_S = 2.0                    # for the last words (an error) to a client that is leaving


class ConnectionSlots(Slots):
    """The Wyoming connections one worker process serves at once (WYOMING_MAX_CONNECTIONS)."""


class _Closing(Exception):
    """Ends the connection; ``tell``: the client is sent an error event saying why first."""

    def __init__(self, text: str, code: str, tell: bool = True):
        super().__init__(text)
        self.text, self.code, self.tell = text, code, tell


class _BoundedReader:
    """What ``async_read_event`` reads through: an event's data or payload larger than ``max_bytes`` is
    refused before it is read (the package would buffer whatever length the client names)."""

    def __init__(self, reader: asyncio.StreamReader, max_bytes: int):
        self.reader = reader
        self.max_bytes = max_bytes

    async def readline(self) -> bytes:
        try:
            return await self.reader.readline()
        except ValueError:   # longer than the StreamReader's limit
            raise _Closing(f"an event's header line is longer than {MAX_LINE_BYTES} bytes",
                           "event_too_large") from None

    async def readexactly(self, n: int) -> bytes:
        if not isinstance(n, int) or not 0 < n <= self.max_bytes:
            raise _Closing(f"an event's data or payload is at most {self.max_bytes} bytes (six per character "
                           "of MAX_INPUT_CHARS, and 64 KiB)", "event_too_large")
        return await self.reader.readexactly(n)


@dataclass
class _Stream:
    """The open stream: its context (None until it opened), whether it failed, and when it is done."""

    context: Optional[LiveContext] = None
    failed: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    samples: int = 0
    chars: int = 0
    started: float = field(default_factory=time.perf_counter)


class WyomingSession:
    """One client connection; ``serve`` runs it to its close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, service: SpeechService,
                 voices: WyomingVoices, settings: Settings, admission: Admission, slots: ConnectionSlots):
        self.reader = _BoundedReader(reader, 6 * settings.max_input_chars + 64 * 1024)
        self.writer = writer
        self.service = service
        self.voices = voices
        self.settings = settings
        self.admission = admission   # a connection with a reply in progress is work in flight (the SIGTERM drain)
        self.slots = slots
        self.peer = _peer(writer)
        self._task: Optional[asyncio.Task[Any]] = None
        self._inbox: asyncio.Queue[Event] = asyncio.Queue(_INBOX)
        self._outbox: deque[Event] = deque()
        self._room = asyncio.Condition()
        self._stream: Optional[_Stream] = None
        self._working = False           # an event is being handled: the connection is not idle
        self._counted = False
        self._cut = False               # cut off for not reading: close without waiting for the buffer
        self._last_activity = time.monotonic()

    async def serve(self) -> None:
        self._task = asyncio.current_task()
        try:
            if self.admission.draining:
                return await self._refuse(ServiceUnavailable("the server is shutting down; retry on another instance",
                                                             code="server_shutting_down"))
            if not self.slots.take():
                return await self._refuse(Overloaded(
                    f"this server serves {self.slots.limit} Wyoming connections at once (WYOMING_MAX_CONNECTIONS); "
                    "retry in a few seconds", retry_after=1, code="too_many_connections"))
            try:
                await self._run()
            finally:
                self.slots.give_back()
        finally:
            self._count(False)
            await self._close_connection()

    async def _close_connection(self) -> None:
        """Closes after what is buffered is sent; a client that does not take it (or the slow reader
        cut off) loses it."""
        if not self._cut:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), _CLOSE_WAIT_S)
            except (OSError, TimeoutError):
                pass
        self.writer.transport.abort()

    async def _refuse(self, exc: DomainError) -> None:
        try:
            await asyncio.wait_for(async_write_event(_error_event(exc), self.writer), _CLOSE_WAIT_S)
        except (OSError, TimeoutError):
            pass

    async def _run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        worker = asyncio.create_task(self._work_loop())
        closing: Optional[_Closing] = None
        try:
            await self._read_loop(sender, worker)
        except _Closing as exc:
            closing = exc
        except (OSError, asyncio.IncompleteReadError):
            pass   # the client is gone
        except Exception:   # a failure of the session itself (a request's own failures are its error event)
            logger.opt(exception=True).error("wyoming connection from {} failed", self.peer)
            closing = _Closing("server error", "server_error")
        finally:
            worker.cancel()
            await _finished(worker)
            if closing is not None:
                logger.info("wyoming connection from {} closed: {}", self.peer, closing.text)
                if closing.tell and not sender.done():
                    self._outbox.append(Error(text=closing.text, code=closing.code).event())
                    async with self._room:
                        self._room.notify_all()
                    try:
                        await asyncio.wait_for(self._sent_all(), _CLOSE_WAIT_S)
                    except TimeoutError:
                        pass
            sender.cancel()
            await _finished(sender)

    async def _sent_all(self) -> None:
        async with self._room:
            await self._room.wait_for(lambda: not self._outbox)

    # -- receiving -----------------------------------------------------------------------------------
    async def _read_loop(self, sender: asyncio.Task[None], worker: asyncio.Task[None]) -> None:
        """Reads events into the worker's inbox until the client closes; the sender or the worker stopping
        (a client that does not read, a failure) ends it too, and so does an idle client."""
        idle_s = self.settings.wyoming_idle_timeout_s
        pending: Optional[asyncio.Future[Any]] = None   # reading an event, or handing it to the worker
        reading = False
        try:
            while True:
                if pending is None:
                    pending, reading = asyncio.ensure_future(self._read_event()), True
                left = self._last_activity + idle_s - time.monotonic()
                done, _ = await asyncio.wait({pending, sender, worker}, timeout=max(0.0, left),
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in (sender, worker):
                    if task in done:
                        raise task.exception() or ConnectionResetError()
                if pending in done:
                    event, pending = pending.result(), None
                    if reading:
                        if event is None:
                            return   # the client closed the connection
                        self._last_activity = time.monotonic()
                        # to the worker, which may be behind (then reading waits: TCP's backpressure)
                        pending, reading = asyncio.ensure_future(self._inbox.put(event)), False
                    continue
                if self._working:
                    self._last_activity = time.monotonic()
                elif time.monotonic() - self._last_activity >= idle_s:
                    raise _Closing(f"idle for {idle_s:g} s (WYOMING_IDLE_TIMEOUT_S)", "idle")
        finally:
            if pending is not None:
                pending.cancel()

    async def _read_event(self) -> Optional[Event]:
        try:
            event = await async_read_event(self.reader)   # type: ignore[arg-type]   # reads what a StreamReader reads
        except (_Closing, asyncio.IncompleteReadError, OSError):
            raise
        except Exception:   # a header without "type", or that is no object; data that is no object
            event = None
        if event is None and not self.reader.reader.at_eof():   # the package reads a line that is no JSON as None
            raise _Closing("not a Wyoming event (one JSON object a line, then its data and payload)", "invalid_event")
        return event

    # -- handling ------------------------------------------------------------------------------------
    async def _work_loop(self) -> None:
        try:
            while True:
                event = await self._inbox.get()
                self._working = True   # not idle while an event is handled (a voice's first G2P load, a reply)
                try:
                    await self._handle(event)
                except Exception as exc:   # the request's failure, told to the client; the connection goes on
                    await self._error(exc)
                finally:
                    self._working = False
        finally:
            stream = self._stream
            if stream is not None and stream.context is not None:   # the client left mid-stream
                stream.context.close()   # its job closed: its chunks leave the scheduler
                self._log("stream", stream.context.request.voice_name, stream.chars, stream.samples, stream.started,
                          "cancelled")

    async def _handle(self, event: Event) -> None:
        kind = event.type
        if Describe.is_type(kind):
            return await self._put(self.voices.info().event())
        if Ping.is_type(kind):
            text = event.data.get("text") if isinstance(event.data, dict) else None
            return await self._put(Pong(text=text if isinstance(text, str) else None).event())
        if not any(c.is_type(kind) for c in (Synthesize, SynthesizeStart, SynthesizeChunk, SynthesizeStop)):
            return   # select-program, audio, other domains: dropped, as the protocol asks
        try:
            parsed = _parse(event)
        except InvalidRequest as exc:
            return await self._error(exc)
        if isinstance(parsed, Synthesize):
            if self._stream is not None:
                return   # the copy of a streamed text for servers that do not stream
            return await self._synthesize(parsed)
        if isinstance(parsed, SynthesizeStart):
            return await self._stream_start(parsed)
        if isinstance(parsed, SynthesizeChunk):
            return await self._stream_chunk(parsed)
        return await self._stream_stop()

    def _request(self, voice: Optional[SynthesizeVoice], text_format: Any, text: str) -> SpeechRequest:
        model, spec = self.voices.choose(voice)
        ssml = text_format in (SynthesizeTextFormat.SSML, SynthesizeTextFormat.SSML.value)
        return SpeechRequest(model=model, voice=spec, input=text, response_format="pcm", ssml=ssml)

    def _refusal(self) -> Optional[DomainError]:
        if self.admission.draining:
            return ServiceUnavailable("the server is shutting down; retry on another instance",
                                      code="server_shutting_down")
        return None

    async def _synthesize(self, synthesize: Synthesize) -> None:
        started, status, samples = time.perf_counter(), "ok", 0
        try:
            refusal = self._refusal()
            if refusal is not None:
                raise refusal
            request = self._request(synthesize.voice, synthesize.text_format, synthesize.text)
            job = await self.service.start(request)
        except Exception as exc:
            return await self._error(exc)
        self._count(True)
        try:
            await self._put(_audio_start())
            async for piece in job.pieces():
                samples = await self._audio(piece.pcm.astype("<i2", copy=False).tobytes(), samples)
            await self._put(AudioStop(timestamp=_ms(samples)).event())
        except asyncio.CancelledError:
            status = "cancelled"   # the client left, or stopped reading
            raise
        except Exception as exc:
            status = "failed"
            await self._error(exc)
        finally:
            job.close()
            self._count(False)
            self._log("synthesize", request.voice_name, len(synthesize.text), samples, started, status)

    async def _stream_start(self, start: SynthesizeStart) -> None:
        if self._stream is not None and not self._stream.failed:
            return await self._error(InvalidRequest(
                "a synthesis stream is already open on this connection: send synthesize-stop first",
                code="stream_already_open"))
        if self._stream is not None and self._stream.context is not None:
            self._stream.context.close()   # a failed stream, replaced
        # open even if refused: its chunks, its copy as synthesize and its stop are dropped (a new
        # synthesize-start replaces it)
        stream = self._stream = _Stream()

        async def emit(event: LiveEvent) -> None:
            await self._on_live(stream, event)

        context: Optional[LiveContext] = None
        try:
            refusal = self._refusal()
            if refusal is not None:
                raise refusal
            request = self._request(start.voice, start.text_format, "")
            context = LiveContext(self.service, request, emit, quiet_s=self.settings.stream_quiet_flush_ms / 1000)
            await context.open()
        except Exception as exc:
            if context is not None:
                context.close()
            stream.failed = True
            return await self._error(exc)
        stream.context = context
        self._count(True)
        await self._put(_audio_start())

    async def _stream_chunk(self, chunk: SynthesizeChunk) -> None:
        stream = self._stream
        if stream is None:
            return await self._error(InvalidRequest("synthesize-chunk outside a stream: send synthesize-start first",
                                                    code="no_stream"))
        if stream.failed or stream.context is None or stream.context.ended:
            return   # the stream failed (its error said so): its text is dropped
        stream.chars += len(chunk.text)
        try:
            stream.context.add(chunk.text)
        except InvalidRequest as exc:   # more text buffered than MAX_INPUT_CHARS
            stream.failed = True
            stream.context.close()
            self._count(False)
            await self._error(exc)

    async def _stream_stop(self) -> None:
        stream = self._stream
        if stream is None:
            return await self._error(InvalidRequest("synthesize-stop outside a stream: send synthesize-start first",
                                                    code="no_stream"))
        status = "failed" if stream.failed else "ok"
        try:
            if not stream.failed and stream.context is not None:
                stream.context.end()
                await stream.done.wait()
                if not stream.failed:
                    await self._put(AudioStop(timestamp=_ms(stream.samples)).event())
                status = "failed" if stream.failed else "ok"
            await self._put(SynthesizeStopped().event())
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        finally:
            self._stream = None
            if stream.context is not None:
                stream.context.close()
                self._log("stream", stream.context.request.voice_name, stream.chars, stream.samples, stream.started,
                          status)
            self._count(False)

    async def _on_live(self, stream: _Stream, event: LiveEvent) -> None:
        """The open stream's speech: its audio, its end, or the error that ended it."""
        if isinstance(event, LiveAudio):
            stream.samples = await self._audio(event.data, stream.samples)
        elif isinstance(event, LiveDone):
            stream.done.set()
        elif isinstance(event, LiveFailed):
            stream.failed = True   # before any await: no chunk is added to the failed context
            stream.done.set()
            self._count(False)
            await self._error(event.error)

    async def _audio(self, data: bytes, samples: int) -> int:
        """``data`` as audio-chunk events; returns the reply's samples after it."""
        for at in range(0, len(data), CHUNK_BYTES):
            piece = data[at:at + CHUNK_BYTES]
            await self._put(AudioChunk(rate=SAMPLE_RATE, width=WIDTH, channels=CHANNELS, audio=piece,
                                       timestamp=_ms(samples)).event())
            samples += len(piece) // WIDTH
        return samples

    async def _error(self, exc: BaseException) -> None:
        if not isinstance(exc, DomainError):
            logger.opt(exception=exc).error("wyoming request from {} failed", self.peer)
        await self._put(_error_event(exc))

    def _count(self, busy: bool) -> None:
        """In flight while a reply is in progress: the SIGTERM drain lets it finish, then aborts it."""
        if busy != self._counted:
            self._counted = busy
            self.admission.inflight += 1 if busy else -1
            if self._task is not None:
                (self.admission.tasks.add if busy else self.admission.tasks.discard)(self._task)

    def _log(self, kind: str, voice: str, chars: int, samples: int, started: float, status: str) -> None:
        elapsed = time.perf_counter() - started
        logger.bind(event="wyoming", kind=kind, voice=voice, chars=chars, audio_s=round(samples / SAMPLE_RATE, 3),
                    status=status).info("wyoming {} voice={} chars={} audio={:.2f}s in {:.2f}s status={}", kind, voice,
                                        chars, samples / SAMPLE_RATE, elapsed, status)

    # -- sending -------------------------------------------------------------------------------------
    async def _put(self, event: Event) -> None:
        async with self._room:
            await self._room.wait_for(lambda: len(self._outbox) < _OUTBOX)
            self._outbox.append(event)
            self._room.notify_all()

    async def _send_loop(self) -> None:
        """Sends the outbox in order; a client that takes nothing for SLOW_READER_TIMEOUT_S is cut off."""
        limit = self.settings.slow_reader_timeout_s
        while True:
            async with self._room:
                await self._room.wait_for(lambda: bool(self._outbox))
                event = self._outbox[0]
            try:
                await asyncio.wait_for(async_write_event(event, self.writer), limit)
            except TimeoutError:
                self._cut = True
                raise _Closing(f"the client took nothing for {limit:g} s (SLOW_READER_TIMEOUT_S)", "slow_reader",
                               tell=False) from None
            self._last_activity = time.monotonic()
            async with self._room:
                self._outbox.popleft()
                self._room.notify_all()


def _parse(event: Event) -> Any:
    """The TTS event as the package's class; InvalidRequest for one whose fields have the wrong types."""
    data = event.data
    if not isinstance(data, dict):
        raise InvalidRequest(f"{event.type}: data must be an object", code="invalid_event")
    voice = data.get("voice")
    fields = ("name", "language", "speaker")
    if voice is not None and (not isinstance(voice, dict) or
                              any(not isinstance(voice.get(k), (str, type(None))) for k in fields)):
        raise InvalidRequest(f"{event.type}: voice must be an object of strings (name, language, speaker)",
                             param="voice", code="invalid_event")
    with_text = Synthesize.is_type(event.type) or SynthesizeChunk.is_type(event.type)
    if with_text and not isinstance(data.get("text"), str):
        raise InvalidRequest(f"{event.type}: text must be a string", param="text", code="invalid_event")
    for kind in (Synthesize, SynthesizeStart, SynthesizeChunk, SynthesizeStop):
        if kind.is_type(event.type):
            return kind.from_event(event)
    raise AssertionError(event.type)


def _audio_start() -> Event:
    return AudioStart(rate=SAMPLE_RATE, width=WIDTH, channels=CHANNELS, timestamp=0).event()


def _ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


def _error_event(exc: BaseException) -> Event:
    """Our error as Wyoming's: the message and code an HTTP client would get."""
    if not isinstance(exc, DomainError):
        return Error(text="server error", code="server_error").event()
    text = exc.message
    if isinstance(exc, Overloaded):
        text += f" (retry after {exc.retry_after} s)"
    return Error(text=text, code=exc.code or type(exc).__name__).event()


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)


async def _finished(task: asyncio.Task[None]) -> None:
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass
