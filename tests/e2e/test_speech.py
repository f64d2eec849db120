"""POST /v1/audio/speech through the real server, with the openai client and httpx."""
import httpx
import numpy as np
import pytest

from tests.support.audio import FORMATS, SAMPLE_RATE, check_audio
from tests.support.http_calls import sse

TEXT = "The quick brown fox jumps over the lazy dog. It was a bright, cold day in April!"
LONG_TEXT = " ".join(
    f"Sentence number {i} tells a small story about a lighthouse keeper and the sea." for i in range(40))


@pytest.fixture(scope="module")
def reference(server):
    """Predicted length of TEXT in af_heart, from the server's own usage (frames of 25 ms)."""
    events, audio = sse(server, input=TEXT, voice="af_heart", response_format="pcm", seed=7)
    frames = events[-1]["usage"]["output_tokens"]
    return {"frames": frames, "seconds": frames * 600 / SAMPLE_RATE, "pcm": audio}


def test_sse_events_and_usage(server, reference):
    events, audio = sse(server, input=TEXT, voice="af_heart", response_format="pcm", seed=7)
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    done = events[-1]
    assert done["type"] == "speech.audio.done"
    usage = done["usage"]
    assert usage["input_tokens"] > 20 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    # pcm deltas are exactly the predicted frames: 600 samples each
    assert len(audio) == 2 * usage["output_tokens"] * 600
    assert audio == reference["pcm"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_with_openai_client(client, reference, fmt):
    response = client.audio.speech.create(model="tts-1", voice="af_heart", input=TEXT, response_format=fmt,
                                          extra_body={"seed": 7})
    check_audio(response.content, fmt, reference["seconds"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_streamed_with_openai_client(client, reference, fmt, tmp_path):
    chunks = []
    with client.audio.speech.with_streaming_response.create(
            model="kokoro", voice="af_heart", input=TEXT, response_format=fmt, extra_body={"seed": 7}) as r:
        assert r.headers["content-type"].startswith(
            {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
             "wav": "audio/wav", "pcm": "audio/pcm"}[fmt])
        assert r.headers.get("transfer-encoding") == "chunked"
        for data in r.iter_bytes():
            chunks.append(data)
    check_audio(b"".join(chunks), fmt, reference["seconds"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_not_streamed(server, reference, fmt):
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                   json={"input": TEXT, "voice": "af_heart", "response_format": fmt, "stream": False, "seed": 7})
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    decoded = check_audio(r.content, fmt, reference["seconds"])
    if fmt in ("pcm", "wav", "flac"):  # lossless: the very same samples as the SSE reference
        expected = np.frombuffer(reference["pcm"], "<i2").astype(np.float32) / 32768
        assert np.array_equal(decoded.samples, expected)


def test_stream_to_file(client, reference, tmp_path):
    path = tmp_path / "speech.mp3"
    with client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input=TEXT, instructions="Speak cheerfully",
            extra_body={"seed": 7}) as r:
        r.stream_to_file(path)
    check_audio(path.read_bytes(), "mp3", reference["seconds"])


def test_first_audio_arrives_before_long_text_is_done(server):
    """Chunked audio: the response arrives in pieces as chunks are made, not as one body at the end (five
    pieces are enough to show it; reading all 40 sentences proves nothing more and took minutes here)."""
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json={"input": LONG_TEXT, "voice": "af_bella", "response_format": "pcm", "seed": 1}) as r:
        pieces = []
        for piece in r.iter_raw():
            pieces.append(piece)
            if len(pieces) == 5:
                break
    assert len(pieces) == 5 and all(pieces)


@pytest.mark.parametrize("fmt", ["mp3", "opus"])
def test_same_seed_same_bytes_and_different_seed_differs(server, fmt):
    """opus too: its Ogg stream serial comes from the seed (libavformat's default is a random one)."""
    body = {"input": TEXT, "voice": "af_bella(2)+af_sky(1)", "response_format": fmt, "stream": False}
    a = httpx.post(server.url + "/v1/audio/speech", json={**body, "seed": 42}, timeout=120)
    b = httpx.post(server.url + "/v1/audio/speech", json={**body, "seed": 42}, timeout=120)
    c = httpx.post(server.url + "/v1/audio/speech", json={**body, "seed": 43}, timeout=120)
    assert a.status_code == b.status_code == c.status_code == 200
    assert a.headers["x-seed"] == "42"
    assert a.content == b.content
    assert a.content != c.content


def test_voice_forms(server):
    def pcm(voice):
        r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                       json={"input": "Hello there.", "voice": voice, "response_format": "pcm", "seed": 3})
        assert r.status_code == 200, r.text
        return r.content

    assert pcm({"id": "af_bella"}) == pcm("af_bella")
    assert pcm("alloy") == pcm("af_alloy")           # OpenAI name -> mapped Kokoro voice
    assert pcm("af_bella+af_sky") == pcm("af_bella(1)+af_sky(1)")
    assert pcm("af_bella(2)+af_sky(1)") != pcm("af_bella")


def test_speed_and_volume(server):
    def frames(**extra):
        events, audio = sse(server, input=TEXT, voice="am_adam", response_format="pcm", seed=5, **extra)
        return events[-1]["usage"]["output_tokens"], np.frombuffer(audio, "<i2")

    normal, loud = frames(), frames(volume_multiplier=2.0)
    fast, slow = frames(speed=2.0), frames(speed=0.5)
    assert fast[0] < normal[0] < slow[0]
    quiet = frames(volume_multiplier=0.5)
    assert np.abs(quiet[1]).mean() < np.abs(normal[1]).mean() < np.abs(loud[1]).mean()


def test_lang_code_override(server):
    body = {"input": "Schedule the tomato harvest.", "voice": "af_heart", "response_format": "pcm", "seed": 1}
    us = httpx.post(server.url + "/v1/audio/speech", json=body, timeout=120)
    gb = httpx.post(server.url + "/v1/audio/speech", json={**body, "lang_code": "b"}, timeout=120)
    assert us.status_code == gb.status_code == 200
    assert us.content != gb.content   # British G2P speaks it differently
