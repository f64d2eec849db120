"""API keys, the request body limit and request ids, through a server started with them set."""
import httpx
import openai
import pytest

from tests.support.http_calls import assert_envelope
from tests.support.server import AppServer


@pytest.fixture(scope="module")
def locked(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, api_keys="key-one, key-two", max_request_bytes=4096).start()
    yield proc
    proc.stop()


def test_api_keys_guard_every_endpoint_but_health(locked):
    body = {"input": "Hello.", "voice": "af_heart", "response_format": "wav"}
    for path, method in (("/v1/audio/speech", "POST"), ("/v1/models", "GET"), ("/v1/audio/voices", "GET"),
                         ("/metrics", "GET"), ("/openapi.json", "GET")):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic key-one"}):
            r = httpx.request(method, locked.url + path, json=body if method == "POST" else None, headers=headers)
            error = assert_envelope(r, 401)
            assert error["code"] == "invalid_api_key"
    for key in ("key-one", "key-two"):
        r = httpx.post(locked.url + "/v1/audio/speech", json=body, headers={"Authorization": f"Bearer {key}"},
                       timeout=60)
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert httpx.get(locked.url + "/health").status_code == 200
    assert httpx.get(locked.url + "/health/live").status_code == 200


def test_openai_client_with_and_without_key(locked):
    good = openai.OpenAI(base_url=locked.url + "/v1", api_key="key-two", max_retries=0)
    assert len(good.audio.speech.create(model="tts-1", voice="alloy", input="Hi.").content) > 0
    bad = openai.OpenAI(base_url=locked.url + "/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.audio.speech.create(model="tts-1", voice="alloy", input="Hi.")


def test_body_limit(locked):
    auth = {"Authorization": "Bearer key-one"}
    big = {"input": "word " * 2000, "voice": "af_heart"}
    assert_envelope(httpx.post(locked.url + "/v1/audio/speech", json=big, headers=auth), 413)

    def chunked():   # no Content-Length: the limit is enforced while the body streams in
        yield b'{"input": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'", "voice": "af_heart"}'
    r = httpx.post(locked.url + "/v1/audio/speech", content=chunked(),
                   headers={**auth, "content-type": "application/json"})
    assert_envelope(r, 413)


def test_request_ids(locked):
    auth = {"Authorization": "Bearer key-one"}
    r = httpx.get(locked.url + "/v1/models", headers={**auth, "X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = httpx.get(locked.url + "/v1/models", headers={**auth, "X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces" and len(generated.headers["x-request-id"]) == 32
    r = httpx.post(locked.url + "/v1/audio/speech", json={"input": "Logged.", "voice": "af_heart"},
                   headers={**auth, "X-Request-ID": "speech-42"}, timeout=60)
    assert r.headers["x-request-id"] == "speech-42"
    log = locked.log()
    line = next(line for line in log.splitlines() if "speech-42" in line and "speech version=" in line)
    assert "Logged." not in line          # the input text itself is never logged
    assert "status=ok" in line


def test_api_keys_guard_the_paths_without_v1(locked):
    body = {"input": "Hello.", "voice": "af_heart", "response_format": "wav"}
    for path, method in (("/audio/speech", "POST"), ("/models", "GET"), ("/audio/voices", "GET"),
                         ("/audio/models", "GET")):
        r = httpx.request(method, locked.url + path, json=body if method == "POST" else None)
        assert assert_envelope(r, 401)["code"] == "invalid_api_key"
        r = httpx.request(method, locked.url + path, json=body if method == "POST" else None, timeout=60,
                          headers={"Authorization": "Bearer key-one"})
        assert r.status_code == 200, r.text
