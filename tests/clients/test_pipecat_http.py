"""pipecat's own ``OpenAITTSService`` (the pinned pipecat-ai) pointed at the server with ``base_url``,
in a real pipecat pipeline: every OpenAI voice name it accepts speaks, and an LLM's reply streamed in as
tokens is spoken one sentence at a time (one ``run_tts`` call, one POST /v1/audio/speech, each),
as audio frames of 24 kHz PCM."""
import asyncio

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.services.openai.tts import VALID_VOICES, OpenAITTSService
from pipecat.tests.utils import run_test

from tests.clients.conftest import OPENAI_VOICES, SAMPLE_RATE


class RecordingTTS(OpenAITTSService):
    """pipecat's service unchanged, noting the text of each ``run_tts`` call (one HTTP request each)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls: list[str] = []

    async def run_tts(self, text: str, context_id: str):
        self.calls.append(text)
        async for frame in super().run_tts(text, context_id):
            yield frame


def service(kokoro, voice: str = "alloy", model: str = "tts-1") -> RecordingTTS:
    return RecordingTTS(api_key="not-needed", base_url=kokoro.url + "/v1",
                        settings=OpenAITTSService.Settings(voice=voice, model=model))


def run(tts, frames) -> list:
    """``frames`` through a real pipeline (source -> tts -> sink), then EndFrame; what came out downstream."""
    down, _ = asyncio.run(asyncio.wait_for(run_test(tts, frames_to_send=frames, start_timeout=10), 120))
    return list(down)


def check_audio(frames: list) -> bytes:
    """The frames hold no error and some audio: mono 24 kHz s16le, not silent. Returns the PCM."""
    errors = [f for f in frames if isinstance(f, ErrorFrame)]
    assert not errors, errors
    audio = [f for f in frames if isinstance(f, TTSAudioRawFrame)]
    assert audio, [type(f).__name__ for f in frames]
    assert {(f.sample_rate, f.num_channels) for f in audio} == {(SAMPLE_RATE, 1)}
    pcm = b"".join(f.audio for f in audio)
    assert len(pcm) % 2 == 0 and len(pcm) > SAMPLE_RATE // 10 * 2, len(pcm)   # s16le, over 0.1 s
    assert pcm.count(0) < len(pcm), "all silence"
    return pcm


def test_pipecat_voices_are_all_mapped():
    """Every voice the pinned pipecat lets through is one of our OpenAI names (a new one would be a 400)."""
    assert set(VALID_VOICES) <= set(OPENAI_VOICES["v1_0"]), set(VALID_VOICES) - set(OPENAI_VOICES["v1_0"])


@pytest.mark.parametrize("voice", sorted(VALID_VOICES))
def test_every_openai_voice_speaks(kokoro, voice):
    tts = service(kokoro, voice)
    frames = run(tts, [TTSSpeakFrame("Hello from the voice agent.")])
    check_audio(frames)
    assert tts.calls == ["Hello from the voice agent."]
    assert any(isinstance(f, TTSStartedFrame) for f in frames)
    assert any(isinstance(f, TTSStoppedFrame) for f in frames)


@pytest.mark.parametrize("model", ["tts-1", "gpt-4o-mini-tts"])
def test_llm_reply_spoken_sentence_by_sentence(kokoro, model):
    """An LLM's reply arrives as tokens; pipecat cuts it into sentences and calls ``run_tts`` (one
    request) for each: every sentence's audio comes back."""
    tokens = ["Hi", " there", ".", " The weather", " today is sunny", " with a light", " breeze.", " Bye", "!"]
    tts = service(kokoro, "nova", model)
    frames = run(tts, [LLMFullResponseStartFrame(), *[LLMTextFrame(t) for t in tokens], LLMFullResponseEndFrame()])
    together = check_audio(frames)
    assert [c.strip() for c in tts.calls] == ["Hi there.", "The weather today is sunny with a light breeze.", "Bye!"]

    alone = []
    for sentence in tts.calls:
        one = service(kokoro, "nova", model)
        alone.append(len(check_audio(run(one, [TTSSpeakFrame(sentence)]))))
    assert alone[1] > alone[0] and alone[1] > alone[2], alone
    assert len(together) >= 0.9 * sum(alone), (len(together), alone)
