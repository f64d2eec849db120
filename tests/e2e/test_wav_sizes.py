"""WAV headers as players and libraries read them: a whole (``stream: false``) WAV and every download
link's WAV carry their true RIFF and data sizes (Python's ``wave`` and SoX read the length from them);
a streamed WAV declares unknown sizes (0xFFFFFFFF: "to the end of the file"), since its length is not
known when the header leaves."""
import base64
import io
import struct
import wave

import httpx
import pytest

from tests.support.server import AppServer

TEXT = "The keeper climbed the stairs at dusk."
UNKNOWN = 0xFFFFFFFF


@pytest.fixture(scope="module")
def app(model_dir, tmp_path_factory):
    proc = AppServer(model_dir, model_free=True, temp_file_dir=tmp_path_factory.mktemp("downloads"), enable_dev_routes=True).start()
    yield proc
    proc.stop()


def riff_sizes(data: bytes) -> tuple[int, int]:
    """The RIFF and data chunk sizes as a soxi-like reader sees them (chunk by chunk, not at fixed offsets)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    riff_size = struct.unpack("<I", data[4:8])[0]
    at = 12
    while at + 8 <= len(data):
        chunk, size = struct.unpack("<4sI", data[at:at + 8])
        if chunk == b"data":
            return riff_size, size
        at += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def assert_true_sizes(data: bytes) -> None:
    riff_size, data_size = riff_sizes(data)
    assert riff_size == len(data) - 8
    assert data_size == len(data) - 44 and data_size > 0
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.getnframes() == data_size // 2
        assert w.readframes(w.getnframes()) == data[44:]


def speech(**body) -> dict:
    return {"input": TEXT, "voice": "af_heart", "response_format": "wav", "seed": 4, **body}


def test_whole_wav_from_the_openai_sdk_has_its_true_length(app):
    from openai import OpenAI

    client = OpenAI(base_url=app.url + "/v1", api_key="not-needed", max_retries=0, timeout=120)
    data = client.audio.speech.create(model="tts-1", voice="alloy", input=TEXT, response_format="wav",
                                      extra_body={"stream": False}).read()
    assert_true_sizes(data)
    with wave.open(io.BytesIO(data)) as w:
        assert 0 < w.getnframes() / w.getframerate() < 60   # not read as 24 hours


def test_whole_wav_over_httpx_has_its_true_length_and_the_streamed_audio(app):
    whole = httpx.post(app.url + "/v1/audio/speech", json=speech(stream=False), timeout=120)
    assert whole.status_code == 200, whole.text
    assert int(whole.headers["content-length"]) == len(whole.content)
    assert_true_sizes(whole.content)
    streamed = httpx.post(app.url + "/v1/audio/speech", json=speech(stream=True), timeout=120).content
    assert riff_sizes(streamed) == (UNKNOWN, UNKNOWN)   # the documented streamed form
    assert streamed[44:] == whole.content[44:] and streamed[8:40] == whole.content[8:40]


def test_whole_wav_from_phonemes_and_captions_has_its_true_length(app):
    r = httpx.post(app.url + "/dev/generate_from_phonemes", timeout=120,
                   json={"phonemes": "hɛlˈoʊ.", "voice": "af_heart", "response_format": "wav", "stream": False})
    assert r.status_code == 200, r.text
    assert_true_sizes(r.content)
    r = httpx.post(app.url + "/dev/captioned_speech", json=speech(stream=False), timeout=120)
    assert r.status_code == 200, r.text
    assert_true_sizes(base64.b64decode(r.json()["audio"]))


@pytest.mark.parametrize("body", [{"stream": True}, {"stream": False}, {"stream_format": "sse"}],
                         ids=["streamed", "whole", "sse"])
def test_download_link_wav_has_its_true_length(app, body):
    with httpx.stream("POST", app.url + "/v1/audio/speech", json=speech(return_download_link=True, **body),
                      timeout=120) as r:
        assert r.status_code == 200
        path = r.headers["x-download-path"]
        r.read()
    got = httpx.get(app.url + path, timeout=60)
    assert got.status_code == 200 and got.headers["content-type"] == "audio/wav"
    assert_true_sizes(got.content)
