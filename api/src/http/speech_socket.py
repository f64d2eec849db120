"""``WS /v1/audio/speech/stream``: one socket's session, its messages, bounds and close codes.

The protocol is documented in docs/api.md. A ``SpeechSocket`` reads the client's JSON messages and
drives one ``LiveContext`` (``services.speech.live``) per open context; everything it sends goes
through one bounded outbox and one sender task, so a client that stops reading pauses its contexts
(their ``emit`` waits) and, after ``SLOW_READER_TIMEOUT_S`` without a frame taken, is closed (4001).
``SocketSlots`` counts the sockets of the worker process (``STREAM_MAX_SOCKETS``; more are closed with
1013). API keys and the ``Origin`` check are the middlewares' (``api_keys``, ``origins``), as for HTTP.
"""
import asyncio
import base64
import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Optional, Union

from loguru import logger
from pydantic import ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..builds.base import SAMPLE_RATE
from ..core.config import Settings
from ..core.exceptions import InvalidRequest, Overloaded, ServiceUnavailable
from ..core.slots import Slots
from ..services.speech.live import LiveAudio, LiveContext, LiveDone, LiveEvent, LiveFailed, LiveFlushed
from ..services.speech.service import SpeechService
from ..structures.schemas import AudioFormat, SpeechRequest
from .admission import Admission
from .errors import http_error

NORMAL, GOING_AWAY, POLICY, TOO_BIG, SERVER_ERROR, TRY_LATER = 1000, 1001, 1008, 1009, 1011, 1013
IDLE, NOT_READING = 4000, 4001
_CONTEXT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_AUDIO_BYTES = 64 * 1024   # audio in one message (1.4 s of pcm)
_CLOSE_WAIT_S = 5.0
_OUTBOX = 8   # messages waiting for the client (an audio message and its binary frame are one)


class LiveStart(SpeechRequest):
    """A ``start`` message: a speech request without its text (that streams in), pcm by default."""

    model_config = ConfigDict(extra="forbid")

    type: str = "start"
    context_id: str = "default"
    input: str = ""
    text: str = Field("", description="optional first text")
    response_format: AudioFormat = "pcm"
    audio_encoding: str = Field("binary", pattern="^(binary|base64)$")


class SocketSlots(Slots):
    """The sockets one worker process serves at once (STREAM_MAX_SOCKETS)."""


@dataclass
class _Out:
    context_id: Optional[str]      # the context the message is about (dropped with it on cancel)
    text: str
    data: Optional[bytes] = None   # the binary frame that follows (audio_encoding "binary")
    audio: bool = False            # audio (dropped on cancel; the rest is still said)


class _Closing(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


class SpeechSocket:
    """One client socket; ``serve`` runs it to its close."""

    def __init__(self, websocket: WebSocket, service: SpeechService, settings: Settings, slots: SocketSlots,
                 admission: Admission):
        self.ws = websocket
        self.service = service
        self.settings = settings
        self.slots = slots
        self.admission = admission   # a socket with an open context is work in flight (the SIGTERM drain waits)
        self._counted = False
        self._task: Optional[asyncio.Task] = None
        self.contexts: dict[str, LiveContext] = {}
        self.encodings: dict[str, str] = {}
        self._outbox: deque[_Out] = deque()
        self._room = asyncio.Condition()
        self._closing: Optional[_Closing] = None

    async def serve(self) -> None:
        self._task = asyncio.current_task()
        await self.ws.accept()
        if self.admission.draining:
            return await self._close(GOING_AWAY, "the server is shutting down")
        if not self.slots.take():
            return await self._close(TRY_LATER, f"this server serves {self.slots.limit} sockets at once "
                                                "(STREAM_MAX_SOCKETS); retry in a few seconds")
        sender = asyncio.create_task(self._send_loop())
        try:
            await self._receive_loop(sender)
        except _Closing as closing:
            self._closing = closing
        except WebSocketDisconnect:
            pass
        except Exception:   # a failure of the session itself (a context's own failures are its error message)
            logger.opt(exception=True).error("speech socket failed")
            self._closing = _Closing(SERVER_ERROR, "server error")
        finally:
            for context_id in list(self.contexts):
                self._remove(context_id).close()
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, Exception):
                pass
            self.slots.give_back()
            if self._closing is not None:
                logger.info("speech socket closed: {} {}", self._closing.code, self._closing.reason)
                await self._close(self._closing.code, self._closing.reason)

    async def _close(self, code: int, reason: str) -> None:
        """Close with ``code``; bounded, since a client that reads nothing never takes the close frame
        either (uvicorn's keep-alive pings end such a connection)."""
        try:
            await asyncio.wait_for(self.ws.close(code, reason[:120]), _CLOSE_WAIT_S)
        except Exception:   # already gone, or not reading: nothing more to tell it
            pass

    # -- receiving -----------------------------------------------------------------------------------
    async def _receive_loop(self, sender: asyncio.Task) -> None:
        idle_s = self.settings.stream_idle_timeout_s
        receive: Optional[asyncio.Future] = None
        try:
            while True:
                receive = receive or asyncio.ensure_future(self.ws.receive())
                done, _ = await asyncio.wait({receive, sender}, timeout=idle_s, return_when=asyncio.FIRST_COMPLETED)
                if sender in done:   # the sender stopped: the client stopped reading, or is gone
                    raise sender.exception() or WebSocketDisconnect(NORMAL)
                if not done:
                    if any(c.speaking for c in self.contexts.values()):
                        continue   # contexts still speaking: not idle
                    raise _Closing(IDLE, f"idle for {idle_s:g} s (STREAM_IDLE_TIMEOUT_S)")
                message, receive = receive.result(), None
                await self._on_message(message)
        finally:
            if receive is not None:
                receive.cancel()

    async def _on_message(self, message: dict) -> None:
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", NORMAL))
        text, data = message.get("text"), message.get("bytes")
        size = len(text.encode()) if text is not None else len(data or b"")
        if size > self.settings.stream_max_message_bytes:
            raise _Closing(TOO_BIG, f"a message is at most {self.settings.stream_max_message_bytes} bytes "
                                    "(STREAM_MAX_MESSAGE_BYTES)")
        if text is None:
            return await self._error(None, InvalidRequest("send JSON text messages; binary frames are not read",
                                                          code="invalid_message"))
        await self._handle(text)

    async def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            return await self._error(None, InvalidRequest("a message must be one JSON object", code="invalid_json"))
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return await self._error(None, InvalidRequest("a message must be a JSON object with a 'type'",
                                                          param="type", code="invalid_message"))
        kind = message["type"]
        context_id = message.get("context_id", "default")
        if not isinstance(context_id, str) or not _CONTEXT_ID.fullmatch(context_id):
            return await self._error(None, InvalidRequest(
                "context_id must be 1-64 characters of A-Z a-z 0-9 . _ : -", param="context_id",
                code="invalid_context_id"))
        if kind == "start":
            return await self._start(message, context_id)
        if kind not in ("text", "flush", "end", "cancel"):
            return await self._error(None, InvalidRequest(
                "type must be start, text, flush, end or cancel", param="type", code="invalid_message"))
        context = self.contexts.get(context_id)
        if context is None:
            if kind == "cancel":
                return   # already over: a barge-in racing the context's end is no error
            return await self._error(None, InvalidRequest(
                f"no open context {context_id!r}: send a 'start' for it first", param="context_id",
                code="unknown_context"))
        if kind == "cancel":
            return await self._cancel(context_id, context)
        if context.ended:
            return await self._error(None, InvalidRequest(
                f"context {context_id!r} has ended: it takes no more text (start a new one)", param="context_id",
                code="context_ended"))
        try:
            if kind == "text":
                delta = message.get("text")
                if not isinstance(delta, str):
                    raise InvalidRequest("a text message needs 'text', a string", param="text", code="invalid_message")
                context.add(delta)
            elif kind == "flush":
                context.flush()
            else:
                context.end()
        except InvalidRequest as exc:   # too much text buffered: the context ends, and says so
            await self._fail(context_id, context, exc)

    async def _start(self, message: dict, context_id: str) -> None:
        if context_id in self.contexts:
            return await self._error(context_id, InvalidRequest(
                f"context {context_id!r} is already open: end or cancel it first", param="context_id",
                code="context_open"), end=False)
        if len(self.contexts) >= self.settings.stream_max_contexts:
            return await self._error(context_id, InvalidRequest(
                f"a socket holds at most {self.settings.stream_max_contexts} open contexts (STREAM_MAX_CONTEXTS)",
                param="context_id", code="too_many_contexts"))
        if self.admission.draining:
            return await self._error(context_id, ServiceUnavailable(
                "the server is shutting down", code="server_shutting_down", retry_after=5))
        try:
            start = LiveStart.model_validate(message)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or None
            return await self._error(context_id, InvalidRequest(f"{where}: {first['msg']}", param=where,
                                                                code="invalid_message"))
        request = SpeechRequest.model_validate(start.model_dump(exclude={"type", "context_id", "text",
                                                                         "audio_encoding"}))

        async def emit(event: LiveEvent) -> None:
            await self._on_event(context_id, context, event)

        context = LiveContext(self.service, request, emit, quiet_s=self.settings.stream_quiet_flush_ms / 1000)
        try:
            await context.open()
        except Exception as exc:
            context.close()
            return await self._error(context_id, exc)
        self._add(context_id, context)
        self.encodings[context_id] = start.audio_encoding
        await self._put(_Out(context_id, json.dumps({"type": "started", "context_id": context_id,
                                                     "response_format": request.response_format,
                                                     "sample_rate": SAMPLE_RATE})))
        if start.text:
            try:
                context.add(start.text)
            except InvalidRequest as exc:
                await self._fail(context_id, context, exc)

    async def _cancel(self, context_id: str, context: LiveContext) -> None:
        context.cancel()
        self._remove(context_id)
        # what is still waiting for the client is dropped: the barge-in is heard at once
        self._drop(context_id)
        await self._put(_Out(context_id, json.dumps({"type": "done", "context_id": context_id, "reason": "cancelled",
                                                     "usage": context.usage.as_dict()})))

    async def _fail(self, context_id: str, context: LiveContext, exc: BaseException) -> None:
        context.close()
        self._remove(context_id)
        await self._error(context_id, exc)

    def _add(self, context_id: str, context: LiveContext) -> None:
        self.contexts[context_id] = context
        self._count()

    def _remove(self, context_id: str) -> LiveContext:
        context = self.contexts.pop(context_id)
        self._count()
        return context

    def _count(self) -> None:
        """In flight while a context is open: the drain lets its reply finish, then aborts it."""
        busy = bool(self.contexts)
        if busy != self._counted:
            self._counted = busy
            self.admission.inflight += 1 if busy else -1
            if self._task is not None:   # the drain cancels what outlives its abort
                (self.admission.tasks.add if busy else self.admission.tasks.discard)(self._task)

    # -- sending -------------------------------------------------------------------------------------
    async def _on_event(self, context_id: str, context: LiveContext, event: LiveEvent) -> None:
        if self.contexts.get(context_id) is not context:
            return   # cancelled or failed meanwhile (the id may name a new context by now)
        if isinstance(event, LiveAudio):
            # in frames a client's default limits take (the websockets library's is 1 MiB); the words
            # go with the first
            words = [w.as_dict() for w in event.words]
            for at in range(0, max(1, len(event.data)), MAX_AUDIO_BYTES):
                data = event.data[at:at + MAX_AUDIO_BYTES]
                head = {"type": "audio", "context_id": context_id, "bytes": len(data), "words": words}
                words = []
                if self.encodings[context_id] == "base64":
                    head["audio"] = base64.b64encode(data).decode()
                    await self._put(_Out(context_id, json.dumps(head), audio=True))
                else:
                    await self._put(_Out(context_id, json.dumps(head), data, audio=True))
            return
        if isinstance(event, LiveFlushed):
            return await self._put(_Out(context_id, json.dumps({"type": "flushed", "context_id": context_id})))
        self._remove(context_id)
        if isinstance(event, LiveDone):
            return await self._put(_Out(context_id, json.dumps({"type": "done", "context_id": context_id,
                                                                "reason": "end", "usage": event.usage.as_dict()})))
        assert isinstance(event, LiveFailed)
        await self._error(context_id, event.error)

    async def _error(self, context_id: Optional[str], exc: BaseException, end: bool = True) -> None:
        """An ``error`` message in OpenAI's envelope (with ``context_id``: that context is over)."""
        error = http_error(exc)
        if error.status_code >= 500 and not isinstance(exc, (ServiceUnavailable,)):
            logger.opt(exception=exc).error("live context {} failed", context_id)
        body: dict[str, Union[str, dict, int, None]] = {"type": "error", "context_id": context_id,
                                                        **error.body()}
        if isinstance(exc, Overloaded):
            body["retry_after_s"] = exc.retry_after
        await self._put(_Out(context_id if end else None, json.dumps(body)))

    async def _put(self, out: _Out) -> None:
        async with self._room:
            await self._room.wait_for(lambda: len(self._outbox) < _OUTBOX)
            self._outbox.append(out)
            self._room.notify_all()

    def _drop(self, context_id: str) -> None:
        kept = [o for o in self._outbox if o.context_id != context_id or not o.audio]
        self._outbox.clear()
        self._outbox.extend(kept)

    async def _send_loop(self) -> None:
        """Sends the outbox in order; a send that the client does not take within SLOW_READER_TIMEOUT_S
        closes the socket (4001)."""
        limit = self.settings.slow_reader_timeout_s
        while True:
            async with self._room:
                await self._room.wait_for(lambda: bool(self._outbox))
                out = self._outbox.popleft()
                self._room.notify_all()
            try:
                await asyncio.wait_for(self.ws.send_text(out.text), limit)
                if out.data is not None:
                    await asyncio.wait_for(self.ws.send_bytes(out.data), limit)
            except TimeoutError:
                reason = f"the client took nothing for {limit:g} s (SLOW_READER_TIMEOUT_S)"
                raise _Closing(NOT_READING, reason) from None
