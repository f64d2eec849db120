"""livekit-agents with its OpenAI plugin (the pinned livekit-plugins-openai) pointed at the server with
``base_url``: ``openai.TTS(...).synthesize`` in every response format, through both of the plugin's
paths (``tts-1``: the audio bytes; ``gpt-4o-mini-tts``: SSE events of base64 audio), and the
``StreamAdapter`` that an AgentSession puts around a non-streaming TTS (an LLM's tokens in, sentence
by sentence)."""
import asyncio
import json
import typing

import httpx2
import numpy as np
import openai
import pytest
from livekit.agents import tts as lk_tts
from livekit.plugins import openai as lk_openai
from livekit.plugins.openai.models import TTSVoices

from tests.clients.conftest import OPENAI_VOICES, SAMPLE_RATE

FORMATS = ("pcm", "mp3", "wav", "opus", "aac", "flac")
TEXT = "Hello from a LiveKit agent. The server speaks this reply."


def pcm_of(events) -> np.ndarray:
    """The decoded audio of a list of SynthesizedAudio events: 24 kHz mono int16 frames, joined."""
    assert events, "no audio"
    assert {(e.frame.sample_rate, e.frame.num_channels) for e in events} == {(SAMPLE_RATE, 1)}
    return np.concatenate([np.frombuffer(e.frame.data, dtype=np.int16) for e in events])


def check_speech(pcm: np.ndarray, at_least_s: float = 0.5) -> None:
    assert pcm.size >= at_least_s * SAMPLE_RATE, pcm.size / SAMPLE_RATE
    assert np.abs(pcm.astype(np.int32)).max() > 1000, "silent"


async def synthesize(tts: lk_openai.TTS, text: str) -> list:
    try:
        return [event async for event in tts.synthesize(text)]
    finally:
        await tts.aclose()


def plugin(kokoro, **kwargs) -> lk_openai.TTS:
    return lk_openai.TTS(base_url=kokoro.url + "/v1", api_key="not-needed", **kwargs)


def test_livekit_voices_are_all_mapped():
    assert set(typing.get_args(TTSVoices)) <= set(OPENAI_VOICES["v1_0"])


@pytest.mark.parametrize("model", ["tts-1", "gpt-4o-mini-tts"])
@pytest.mark.parametrize("response_format", FORMATS)
def test_synthesize_every_format(kokoro, model, response_format):
    """Both paths decode to the same length of speech in every format (compressed ones within a frame
    or two of codec padding)."""
    events = asyncio.run(asyncio.wait_for(synthesize(
        plugin(kokoro, model=model, voice="alloy", response_format=response_format), TEXT), 60))
    assert events[-1].is_final
    pcm = pcm_of(events)
    check_speech(pcm)
    reference = pcm_of(asyncio.run(synthesize(plugin(kokoro, model="tts-1", voice="alloy", response_format="pcm"),
                                              TEXT)))
    # livekit's streaming decoder (probesize 32, low-delay flags) drops the first frame of any FLAC stream
    # (2304 samples here; an ffmpeg-made FLAC loses the same), so FLAC gets that much more slack.
    slack = 0.1 * SAMPLE_RATE + (2304 if response_format == "flac" else 0)
    assert abs(pcm.size - reference.size) <= slack, (pcm.size, reference.size)


@pytest.mark.parametrize("voice", [*typing.get_args(TTSVoices), "af_heart", "af_bella(2)+af_sky(1)"])
def test_every_voice(kokoro, voice):
    """Its OpenAI names, and (the plugin passes any string on) a Kokoro voice and a mix."""
    tts = plugin(kokoro, model="tts-1", voice=voice)
    events = asyncio.run(asyncio.wait_for(synthesize(tts, "Hi, how are you?"), 60))
    check_speech(pcm_of(events), at_least_s=0.3)


def test_gpt_4o_mini_tts_takes_the_sse_path(kokoro):
    """With ``gpt-4o-mini-tts`` the plugin asks for ``stream_format: sse`` and reads the events: the server
    answers text/event-stream (seen on the plugin's own HTTP client, given through its ``client``
    parameter), and the plugin decodes it to speech."""
    seen = []

    async def note(response: httpx2.Response) -> None:
        seen.append((json.loads(response.request.content), response.headers.get("content-type")))

    async def go():
        client = openai.AsyncClient(base_url=kokoro.url + "/v1", api_key="not-needed", max_retries=0,
                                    http_client=httpx2.AsyncClient(event_hooks={"response": [note]}))
        return await synthesize(lk_openai.TTS(client=client, model="gpt-4o-mini-tts", voice="coral"), TEXT)

    check_speech(pcm_of(asyncio.run(asyncio.wait_for(go(), 60))))
    [(request, content_type)] = seen
    assert request["stream_format"] == "sse" and request["model"] == "gpt-4o-mini-tts"
    assert content_type.startswith("text/event-stream"), content_type


def test_stream_adapter_speaks_tokens(kokoro):
    """An AgentSession wraps a non-streaming TTS in ``StreamAdapter``: tokens pushed as an LLM writes them
    are cut into sentences, each synthesized by the plugin, and the audio streams back."""
    tokens = ["Hel", "lo there", ". The weather", " today is sunny", " with a light breeze from the west",
              ". I hope", " you enjoy it", "!"]

    async def go():
        wrapped = plugin(kokoro, model="tts-1", voice="nova", response_format="pcm")
        stream = lk_tts.StreamAdapter(tts=wrapped).stream()
        try:
            for token in tokens:
                stream.push_text(token)
            stream.end_input()
            return [event async for event in stream]
        finally:
            await stream.aclose()
            await wrapped.aclose()

    events = asyncio.run(asyncio.wait_for(go(), 60))
    alone = pcm_of(asyncio.run(synthesize(plugin(kokoro, model="tts-1", voice="nova", response_format="pcm"),
                                          "".join(tokens))))
    streamed = pcm_of(events)
    check_speech(streamed, at_least_s=1.0)
    assert streamed.size >= 0.8 * alone.size, (streamed.size, alone.size)
