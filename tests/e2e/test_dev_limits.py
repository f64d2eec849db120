"""The /dev routes honour the server's settings like /v1/audio/speech does, and can be turned off."""
import httpx
import pytest

from tests.support.http_calls import assert_envelope
from tests.support.server import AppServer


@pytest.fixture(scope="module")
def small(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, max_input_chars=100).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("path, body, param", [
    ("/dev/phonemize", {"text": "word " * 30}, "text"),
    ("/dev/generate_from_phonemes", {"phonemes": "hˈɛloʊ " * 30, "voice": "af_heart"}, "phonemes"),
    ("/dev/captioned_speech", {"input": "word " * 30, "voice": "af_heart"}, "input"),
])
def test_every_dev_route_takes_max_input_chars(small, path, body, param):
    r = httpx.post(small.url + path, json=body, timeout=60)
    error = assert_envelope(r, 400, param=param, words=["MAX_INPUT_CHARS"])
    assert error["code"] == "input_too_long"


def test_phonemize_stops_at_the_request_timeout(v1_model_dir):
    proc = AppServer(v1_model_dir, request_timeout_s=0.5).start()
    try:
        text = " ".join(f"Sentence {i} has a number like {i * 7919} and $ {i}.50 in it." for i in range(3000))
        r = httpx.post(proc.url + "/dev/phonemize", json={"text": text}, timeout=120)
        assert assert_envelope(r, 504)["code"] == "request_timeout"
        assert httpx.get(proc.url + "/health", timeout=10).status_code == 200
    finally:
        proc.stop()


def test_dev_routes_can_be_turned_off(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, enable_dev_routes="false").start()
    try:
        for path in ("/dev/phonemize", "/dev/generate_from_phonemes", "/dev/captioned_speech"):
            assert_envelope(httpx.post(proc.url + path, json={"text": "hi"}, timeout=30), 404)
        schema = httpx.get(proc.url + "/openapi.json", timeout=30).json()
        assert not [p for p in schema["paths"] if p.startswith("/dev/")]
        assert httpx.post(proc.url + "/v1/audio/speech", json={"input": "Still speaking.", "voice": "af_heart"},
                          timeout=60).status_code == 200
    finally:
        proc.stop()
