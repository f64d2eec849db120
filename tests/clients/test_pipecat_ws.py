"""examples/pipecat_kokoro_ws.py, a pipecat ``WebsocketTTSService`` for ``WS /v1/audio/speech/stream``,
in real pipecat pipelines against the real server: text in (a spoken sentence, an LLM's tokens, whole
sentences), audio frames and timed words out, one server context per turn on one socket; an
interruption cancels the context at once and the next turn speaks."""
import asyncio
import importlib.util
import time

import pytest
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.tts_service import TextAggregationMode
from pipecat.workers.runner import WorkerRunner

from tests.clients.conftest import SAMPLE_RATE
from tests.support.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location("pipecat_kokoro_ws", REPO_ROOT / "examples" / "pipecat_kokoro_ws.py")
adapter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(adapter)

REPLY = "Sure, here is the plan. First, we meet Dr. Smith at the harbour. Does that work for you?"
LONG = " ".join(f"Sentence number {i} is here to keep the server busy for a good while longer." for i in range(30))


def tokens(text: str) -> list[str]:
    """Like an LLM's stream: words with their leading space, punctuation on its own."""
    out = []
    for word in text.split(" "):
        piece = word if not out else " " + word
        if piece[-1] in ".,?!":
            out += [piece[:-1], piece[-1]]
        else:
            out.append(piece)
    return out


class Recorded(adapter.KokoroTTSService):
    """The adapter, noting every message it sends and every JSON message the server sends it."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent: list[tuple[str, str]] = []
        self.got: list[dict] = []

    async def _send(self, type_, context_id, **fields):
        self.sent.append((type_, context_id))
        await super()._send(type_, context_id, **fields)

    async def _on_message(self, message):
        self.got.append(message)
        await super()._on_message(message)


def service(kokoro, **kwargs) -> Recorded:
    settings = adapter.KokoroTTSService.Settings(voice=kwargs.pop("voice", "af_heart"), speed=kwargs.pop("speed", None))
    return Recorded(url=kokoro.url.replace("http://", "ws://") + "/v1/audio/speech/stream", settings=settings,
                    **kwargs)


class Sink(FrameProcessor):
    def __init__(self):
        super().__init__()
        self.frames: list = []

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self.frames.append(frame)
        await self.push_frame(frame, direction)


def session(tts, body, timeout: float = 90) -> list:
    """A pipeline tts -> sink; ``body(worker, frames)`` queues frames (and may wait on what came out), then
    EndFrame ends it. Every frame that came out downstream, in order."""
    sink = Sink()
    worker = PipelineWorker(Pipeline([tts, sink]), cancel_on_idle_timeout=False)
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(worker, frame):
        started.set()

    async def drive():
        await asyncio.wait_for(started.wait(), 10)
        await body(worker, sink.frames)
        await worker.queue_frame(EndFrame())

    async def main():
        runner = WorkerRunner()
        await runner.add_workers(worker)
        await asyncio.wait_for(asyncio.gather(runner.run(), drive()), timeout)

    asyncio.run(main())
    return sink.frames


def say(*frames):
    async def body(worker, out):
        for frame in frames:
            await worker.queue_frame(frame)
    return body


async def until(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def audio_of(frames, context_id=None) -> bytes:
    return b"".join(f.audio for f in frames if isinstance(f, TTSAudioRawFrame)
                    and (context_id is None or f.context_id == context_id))


def check_turn(frames) -> bytes:
    errors = [f for f in frames if isinstance(f, ErrorFrame)]
    assert not errors, errors
    audio = [f for f in frames if isinstance(f, TTSAudioRawFrame)]
    assert audio, [type(f).__name__ for f in frames]
    assert {(f.sample_rate, f.num_channels) for f in audio} == {(SAMPLE_RATE, 1)}
    kinds = [type(f) for f in frames]
    assert TTSStartedFrame in kinds and TTSStoppedFrame in kinds
    assert kinds.index(TTSStartedFrame) < kinds.index(TTSAudioRawFrame) < kinds.index(TTSStoppedFrame)
    pcm = audio_of(frames)
    assert len(pcm) % 2 == 0 and len(pcm) > SAMPLE_RATE // 2 and pcm.count(0) < len(pcm)
    return pcm


def spoken_words(frames) -> str:
    return " ".join(f.text.strip() for f in frames if isinstance(f, TTSTextFrame))


def test_a_spoken_sentence(kokoro):
    tts = service(kokoro)
    frames = session(tts, say(TTSSpeakFrame(REPLY)))
    check_turn(frames)
    [context_id] = {c for _, c in tts.sent}
    assert [t for t, _ in tts.sent] == ["start", "end"]
    assert [m["type"] for m in tts.got if m["type"] != "audio"] == ["started", "done"]
    assert tts.got[-1]["reason"] == "end"
    # the server's word timings became pipecat's TTSTextFrames: the words as written, in time order
    words = [f for f in frames if isinstance(f, TTSTextFrame)]
    assert [w.text for w in words] == ["Sure", "here", "is", "the", "plan", "First", "we", "meet", "Dr.", "Smith",
                                       "at", "the", "harbour", "Does", "that", "work", "for", "you"]
    times = [w.pts for w in words]
    assert all(t is not None for t in times) and times == sorted(times) and times[-1] - times[0] > 2e9


@pytest.mark.parametrize("mode", [TextAggregationMode.TOKEN, TextAggregationMode.SENTENCE])
def test_an_llm_reply_streams_through_one_context(kokoro, mode):
    """An LLM's tokens (or pipecat's sentences of them) go out as they come, on one server context for the
    turn; the audio is as long as the whole reply's through POST /v1/audio/speech."""
    import httpx

    tts = service(kokoro, text_aggregation_mode=mode)
    frames = session(tts, say(LLMFullResponseStartFrame(), *[LLMTextFrame(t) for t in tokens(REPLY)],
                              LLMFullResponseEndFrame()))
    pcm = check_turn(frames)
    kinds = [t for t, _ in tts.sent]
    assert kinds[0] == "start" and kinds[-1] == "end" and set(kinds[1:-1]) <= {"text"}
    assert len({c for _, c in tts.sent}) == 1
    if mode == TextAggregationMode.TOKEN:
        assert len(kinds) > 10   # token by token
    else:
        assert len(kinds) == 1 + 3   # one per sentence, then end
    whole = httpx.post(kokoro.url + "/v1/audio/speech", timeout=60,
                       json={"input": REPLY, "voice": "af_heart", "response_format": "pcm"}).content
    assert abs(len(pcm) - len(whole)) < 0.15 * len(whole), (len(pcm), len(whole))
    assert "Smith" in spoken_words(frames)


def test_turns_share_the_socket(kokoro):
    tts = service(kokoro, voice="am_adam")
    frames = session(tts, say(TTSSpeakFrame("First turn."), TTSSpeakFrame("Second turn, a little longer."),
                              TTSSpeakFrame("Third.")))
    check_turn(frames)
    contexts = [c for t, c in tts.sent if t == "start"]
    assert len(contexts) == len(set(contexts)) == 3
    assert [m["reason"] for m in tts.got if m["type"] == "done"] == ["end"] * 3
    assert all(audio_of(frames, c) for c in contexts)


def test_interruption_cancels_at_once_and_the_next_turn_speaks(kokoro):
    """Barge-in while a long reply is still being made (a quarter speed: minutes of audio): the adapter
    sends cancel, the server acknowledges it with done/cancelled, no audio of that turn comes out after
    the interruption, and the next turn on the same socket speaks."""
    tts = service(kokoro, speed=0.25)
    marks = {}

    async def body(worker, out):
        await worker.queue_frame(TTSSpeakFrame(LONG))
        await until(lambda: any(isinstance(f, TTSAudioRawFrame) for f in out))
        marks["first"] = next(f.context_id for f in out if isinstance(f, TTSAudioRawFrame))
        await worker.queue_frame(InterruptionFrame())
        await until(lambda: any(m["type"] == "done" and m["context_id"] == marks["first"] for m in tts.got), 10)
        await asyncio.sleep(0.5)   # whatever was still on its way
        await worker.queue_frame(TTSSpeakFrame("After the barge-in, a new reply."))
        await until(lambda: sum(m["type"] == "done" for m in tts.got) == 2)

    frames = session(tts, body)
    first = marks["first"]
    assert ("cancel", first) in tts.sent
    done = next(m for m in tts.got if m["type"] == "done" and m["context_id"] == first)
    assert done["reason"] == "cancelled"
    cut = next(i for i, f in enumerate(frames) if isinstance(f, InterruptionFrame))
    assert not audio_of(frames[cut:], first), "audio of the interrupted turn after the interruption"
    heard = len(audio_of(frames, first))
    assert heard < 2 * SAMPLE_RATE * 60, heard / 2 / SAMPLE_RATE   # far from the whole text's minutes
    second = [c for t, c in tts.sent if t == "start"][1]
    assert second != first and audio_of(frames, second)
    assert tts.got[-1] == {**tts.got[-1], "type": "done", "context_id": second, "reason": "end"}


def test_a_refusal_is_an_error_frame(kokoro):
    """An unknown voice: the server's error for the context becomes pipecat's ErrorFrame (no audio), and
    the socket still serves the next turn."""
    tts = service(kokoro, voice="xx_nobody")
    frames = session(tts, say(TTSSpeakFrame("Nobody speaks this.")))
    # ErrorFrames travel upstream; the adapter's error reached the server's envelope
    errors = [m for m in tts.got if m["type"] == "error"]
    assert errors and errors[0]["context_id"] and errors[0]["error"]["message"]
    assert not audio_of(frames)
