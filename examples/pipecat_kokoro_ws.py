"""A pipecat TTS service for this server's WebSocket endpoint, ``WS /v1/audio/speech/stream``.

pipecat's own WebSocket TTS services (Cartesia, ElevenLabs, Deepgram, Rime, ...) speak their vendors'
protocols, which differ from this server's in every message (see the README's "Voice agents" note),
so this is a small service of its own. It opens one socket per service and one server *context* per
pipecat turn (pipecat's context id is the protocol's ``context_id``):

- the turn's first text opens it (``start``, with ``model``, ``voice``, ``speed`` and the text), the rest
  is appended (``text``); by default text goes out token by token as the LLM writes it
  (``TextAggregationMode.TOKEN``): the server cuts sentences itself and speaks each one as soon as it is
  complete, which is what the endpoint is for;
- the end of the turn sends ``end`` (speak the rest, then ``done``), and an interruption sends ``cancel``
  (the server stops at once and drops what it had queued);
- audio arrives as binary frames of raw 24 kHz s16le PCM, each after an ``audio`` message that carries
  the words spoken in it; the words become pipecat's word timestamps (``TTSTextFrame``), timed from
  the start of the turn's audio.

The server closes a socket that has had no open context for ``STREAM_IDLE_TIMEOUT_S`` (120 s); pipecat's
receive loop then reconnects. Tested against a real server with pipecat-ai 1.14.0
(tests/clients/test_pipecat_ws.py).

    from examples.pipecat_kokoro_ws import KokoroTTSService
    tts = KokoroTTSService(url="ws://localhost:8880/v1/audio/speech/stream",
                           settings=KokoroTTSService.Settings(voice="af_heart"))

Run it alone to hear it: ``python examples/pipecat_kokoro_ws.py [URL]`` writes reply.wav.
"""
import json
import sys
import wave
from dataclasses import dataclass, field
from typing import Any, AsyncGenerator, Optional

from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame, TTSAudioRawFrame, TTSStoppedFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TextAggregationMode, WebsocketTTSService
from pipecat.utils.types import NOT_GIVEN, NotGiven
from websockets.protocol import State

KOKORO_SAMPLE_RATE = 24000
DEFAULT_URL = "ws://localhost:8880/v1/audio/speech/stream"


@dataclass
class KokoroTTSSettings(TTSSettings):
    """``model``, ``voice`` (a Kokoro voice, a mix such as ``af_bella(2)+af_sky(1)``, or an OpenAI name)
    and ``speed`` (0.25-4.0), as in ``POST /v1/audio/speech``. A change applies from the next turn."""

    speed: Optional[float] | NotGiven = field(default_factory=lambda: NOT_GIVEN)


class KokoroTTSService(WebsocketTTSService):
    """Speaks through ``WS /v1/audio/speech/stream`` (see the module docstring)."""

    Settings = KokoroTTSSettings
    _settings: KokoroTTSSettings

    def __init__(self, *, url: str = DEFAULT_URL, api_key: Optional[str] = None,
                 settings: Optional[KokoroTTSSettings] = None, sample_rate: Optional[int] = None,
                 text_aggregation_mode: Optional[TextAggregationMode] = TextAggregationMode.TOKEN,
                 extra_start_fields: Optional[dict[str, Any]] = None, **kwargs):
        """``url``: the endpoint (``ws://`` or ``wss://``). ``api_key``: sent as ``Authorization: Bearer``
        (the server's ``API_KEYS``). ``sample_rate``: the pipeline's output rate is used when left out;
        the server speaks 24 kHz and other rates are resampled here. ``extra_start_fields``: more fields
        of the ``start`` message (``lang_code``, ``pronunciations``, ``normalization_options``, ``seed``, ...)."""
        default_settings = self.Settings(model="kokoro", voice="af_heart", language=None, speed=None)
        if settings is not None:
            default_settings.apply_update(settings)
        super().__init__(
            text_aggregation_mode=text_aggregation_mode,
            push_text_frames=False,      # the server's word timings drive TTSTextFrames
            push_start_frame=True,       # the base class opens each audio context with TTSStartedFrame
            append_trailing_space=True,  # sentence mode: "One." + "Two." must not reach us as "One.Two."
            sample_rate=sample_rate,
            settings=default_settings,
            **kwargs,
        )
        self._url = url
        self._api_key = api_key
        self._extra_start_fields = dict(extra_start_fields or {})
        self._receive_task = None
        self._open: dict[str, str] = {}         # server contexts open on this socket -> the text sent on each
        self._audio_for: Optional[str] = None   # the context whose binary frame comes next
        self._words_for_audio: list[dict] = []

    def can_generate_metrics(self) -> bool:
        return True

    # -- connection ----------------------------------------------------------------------------------
    async def setup(self, setup: FrameProcessorSetup):
        await super().setup(setup)
        await self._connect()

    async def _connect(self):
        await super()._connect()
        await self._connect_websocket()
        if self._websocket and not self._receive_task:
            self._receive_task = self.create_task(self._receive_task_handler(self._report_error))

    async def _disconnect(self):
        await super()._disconnect()
        if self._receive_task:
            await self.cancel_task(self._receive_task)
            self._receive_task = None
        await self._disconnect_websocket()

    async def _connect_websocket(self):
        try:
            if self._websocket and self._websocket.state is State.OPEN:
                return
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._websocket = await self._websocket_connect(self._url, additional_headers=headers)
            self._open.clear()   # a new socket has no contexts
            self._audio_for = None
            await self._call_event_handler("on_connected")
        except Exception as e:
            await self.push_error(error_msg=f"{self}: cannot connect to {self._url}: {e}", exception=e)
            self._websocket = None
            await self._call_event_handler("on_connection_error", f"{e}")

    async def _disconnect_websocket(self):
        try:
            await self.stop_all_metrics()
            if self._websocket:
                await self._websocket.close()
        except Exception as e:
            logger.warning(f"{self}: error closing the socket: {e}")
        finally:
            self._websocket = None
            self._open.clear()
            await self._call_event_handler("on_disconnected")

    async def _send(self, type_: str, context_id: str, **fields) -> None:
        if not self._websocket:
            raise ConnectionError("not connected")
        await self._websocket.send(json.dumps({"type": type_, "context_id": context_id, **fields}))

    # -- text out ------------------------------------------------------------------------------------
    @staticmethod
    def _given(value):
        return None if isinstance(value, NotGiven) else value

    def _start_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {**self._extra_start_fields, "response_format": "pcm", "audio_encoding": "binary"}
        for name in ("model", "voice", "speed"):
            value = self._given(getattr(self._settings, name))
            if value is not None:
                fields[name] = value
        return fields

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Optional[Frame], None]:
        """Sends ``text`` on the turn's context (opening it with its first text); the audio arrives on
        the receive task."""
        try:
            if not self._websocket or self._websocket.state is not State.OPEN:
                await self._connect()
            if context_id in self._open:
                await self._send("text", context_id, text=text)
                self._open[context_id] += text
            else:
                await self._send("start", context_id, text=text, **self._start_fields())
                self._open[context_id] = text
            await self.start_tts_usage_metrics(text)
            yield None
        except Exception as e:
            yield ErrorFrame(error=f"{self}: cannot send text: {e}")
            yield TTSStoppedFrame(context_id=context_id)

    async def flush_audio(self, context_id: Optional[str] = None):
        """The turn's text is complete: ``end`` speaks what is left, then the server says ``done``."""
        context_id = context_id or self.get_active_audio_context_id()
        if context_id in self._open and self._websocket:
            await self._send("end", context_id)

    async def on_audio_context_interrupted(self, context_id: str):
        """Barge-in: ``cancel`` stops the context's synthesis and drops its queued audio at once."""
        await self.stop_all_metrics()
        if self._open.pop(context_id, None) is not None and self._websocket:
            try:
                await self._send("cancel", context_id)
            except Exception as e:
                logger.warning(f"{self}: cannot send cancel: {e}")
        await super().on_audio_context_interrupted(context_id)

    # -- audio in ------------------------------------------------------------------------------------
    async def _receive_messages(self):
        async for message in self._websocket:
            if isinstance(message, bytes):
                await self._on_audio(message)
            else:
                await self._on_message(json.loads(message))

    async def _on_audio(self, data: bytes) -> None:
        context_id, self._audio_for = self._audio_for, None
        words, self._words_for_audio = self._words_for_audio, []
        if context_id is None or not self.audio_context_available(context_id):
            return   # a cancelled context's last piece
        if self.sample_rate != KOKORO_SAMPLE_RATE:
            data = await self._resampler.resample(data, KOKORO_SAMPLE_RATE, self.sample_rate)
        await self.append_to_audio_context(
            context_id, TTSAudioRawFrame(data, self.sample_rate, 1, context_id=context_id))
        if words:
            text = self._open.get(context_id, "")
            # the words as they were written ("$5", not "five dollars"): the span of the text we sent
            timed = [(text[w["text_start"]:w["text_end"]] if 0 <= w["text_start"] < w["text_end"] <= len(text)
                      else w["word"], float(w["start_time"])) for w in words]
            await self.add_word_timestamps(timed, context_id)

    async def _on_message(self, message: dict) -> None:
        kind, context_id = message.get("type"), message.get("context_id")
        if kind == "audio":   # its binary frame comes next
            self._audio_for, self._words_for_audio = context_id, message.get("words") or []
        elif kind == "done":
            self._open.pop(context_id, None)
            if message.get("reason") == "end" and self.audio_context_available(context_id):
                await self.stop_ttfb_metrics()
                await self.append_to_audio_context(context_id, TTSStoppedFrame(context_id=context_id))
                await self.remove_audio_context(context_id)
        elif kind == "error":
            error = message.get("error") or {}
            text = f"{self}: {error.get('code') or error.get('type')}: {error.get('message')}"
            if message.get("retry_after_s") is not None:
                text += f" (retry after {message['retry_after_s']} s)"
            if context_id is None:   # a message of ours the server could not read; the socket stays open
                logger.warning(text)
                return
            self._open.pop(context_id, None)   # the context is over: its unspoken text was dropped
            await self.push_error(error_msg=text)
            if self.audio_context_available(context_id):
                await self.append_to_audio_context(context_id, TTSStoppedFrame(context_id=context_id))
                await self.remove_audio_context(context_id)
        # "started" and "flushed" need nothing here


async def _demo(url: str) -> None:
    """Speaks two sentences through a pipeline and writes what came out to reply.wav."""
    from pipecat.frames.frames import TTSSpeakFrame
    from pipecat.tests.utils import run_test

    tts = KokoroTTSService(url=url, settings=KokoroTTSService.Settings(voice="af_heart"))
    down, _ = await run_test(tts, frames_to_send=[TTSSpeakFrame("Hello from pipecat. This is Kokoro speaking.")],
                             start_timeout=10)
    pcm = b"".join(f.audio for f in down if isinstance(f, TTSAudioRawFrame))
    with wave.open("reply.wav", "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(KOKORO_SAMPLE_RATE)
        out.writeframes(pcm)
    print(f"reply.wav: {len(pcm) / 2 / KOKORO_SAMPLE_RATE:.2f} s")


if __name__ == "__main__":
    import asyncio

    asyncio.run(_demo(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL))
