"""The paths and habits of clients people already use: Open WebUI (/v1/audio/models), Home Assistant and
others (no /v1 prefix), curl-like clients (a JSON body without Content-Type), voice pickers (language,
accent and gender of each voice), and listings that never wait for a model build."""
import json
import time

import httpx
import pytest

from tests.support.http_calls import assert_envelope
from tests.support.models import V0_19_TEST_VOICES
from tests.support.server import AppServer

SPEECH = {"input": "Hello.", "voice": "af_heart", "response_format": "pcm"}


@pytest.fixture(scope="module")
def plain(model_dir):
    """Both versions on disk, only the default (v1.0) built and warmed."""
    proc = AppServer(model_dir, model_free=True, body_read_timeout_s=2).start()
    yield proc
    proc.stop()


def test_audio_models_lists_the_models(plain):
    listed = httpx.get(plain.url + "/v1/audio/models")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["data"] == httpx.get(plain.url + "/v1/models").json()["data"] == body["models"]   # Open WebUI's key
    assert body["object"] == "list"
    for card in body["data"]:
        assert {"id", "object", "created", "owned_by"} <= set(card) and card["object"] == "model"
    assert {"kokoro", "tts-1", "kokoro-v1_0", "kokoro-v0_19"} <= {card["id"] for card in body["data"]}


@pytest.mark.parametrize("path", ["/audio/voices", "/audio/models", "/models", "/models/tts-1"])
def test_paths_without_v1_answer_as_with_it(plain, path):
    alias, versioned = httpx.get(plain.url + path), httpx.get(plain.url + "/v1" + path)
    assert alias.status_code == 200, alias.text
    assert alias.json() == versioned.json()


def test_speech_and_combine_without_v1(plain):
    seeded = {**SPEECH, "seed": 3}
    r = httpx.post(plain.url + "/audio/speech", json=seeded, timeout=60)
    assert r.status_code == 200 and r.headers["x-model-version"] == "v1_0"
    assert r.content == httpx.post(plain.url + "/v1/audio/speech", json=seeded, timeout=60).content
    combined = httpx.post(plain.url + "/audio/voices/combine", json={"voices": "af_heart+af_bella"}, timeout=60)
    assert combined.status_code == 200 and combined.headers["x-voice"]
    assert_envelope(httpx.post(plain.url + "/audio/speech", json={**SPEECH, "voice": "nobody"}), 400, "voice")


def test_paths_without_v1_pass_admission(plain):
    """A stalled body on /audio/speech is cut off by the same admission middleware (408)."""
    from tests.support.http_calls import read_answer, stalled_socket

    sock = stalled_socket(plain, path="/audio/speech")
    try:
        answer = read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 408") and b'"body_timeout"' in answer, answer[:200]
    finally:
        sock.close()


def test_the_schema_lists_each_path_once(plain):
    paths = httpx.get(plain.url + "/openapi.json").json()["paths"]
    assert "/v1/audio/speech" in paths and "/v1/audio/models" in paths
    assert not [p for p in paths if p.startswith(("/audio/", "/models"))]


def test_a_json_body_without_content_type_is_read_as_json(plain):
    raw = json.dumps({**SPEECH, "seed": 5}).encode()
    r = httpx.post(plain.url + "/v1/audio/speech", content=raw, timeout=60)   # httpx sends no Content-Type here
    assert "content-type" not in r.request.headers
    assert r.status_code == 200, r.text
    assert r.content == httpx.post(plain.url + "/v1/audio/speech", json={**SPEECH, "seed": 5}, timeout=60).content
    r = httpx.post(plain.url + "/v1/audio/voices/combine", content=b'{"voices": "af_heart+af_bella"}', timeout=60)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("path", ["/v1/audio/speech", "/audio/speech", "/v1/audio/voices/combine"])
def test_a_wrong_content_type_gets_415_naming_the_fix(plain, path, content_type):
    r = httpx.post(plain.url + path, content=json.dumps(SPEECH).encode(), headers={"Content-Type": content_type},
                   timeout=60)
    error = assert_envelope(r, 415, words=("Content-Type: application/json",))
    assert error["code"] == "unsupported_media_type"


def test_voices_come_with_language_accent_and_gender(plain):
    body = httpx.get(plain.url + "/v1/audio/voices").json()
    assert set(body) == {"voices"}   # no parallel "details" array to zip by index: each voice says it all
    voices = {v["id"]: v for v in body["voices"]}
    assert voices["af_heart"] == {"id": "af_heart", "name": "Heart", "language": "en-US",
                                  "accent": "American English", "gender": "female"}
    assert voices["bm_george"]["language"] == "en-GB" and voices["bm_george"]["gender"] == "male"
    assert httpx.get(plain.url + "/v1/audio/voices", params={"legacy": "true"}).json() == \
        {"voices": [v["id"] for v in body["voices"]]}


def test_listing_voices_of_an_unbuilt_version_does_not_build_it(plain):
    assert httpx.get(plain.url + "/health").json()["versions"]["v0_19"]["state"] == "not_loaded"
    began = time.monotonic()
    r = httpx.get(plain.url + "/v1/audio/voices", params={"model": "kokoro-v0_19"}, timeout=60)
    elapsed = time.monotonic() - began
    assert r.status_code == 200, r.text
    assert [v["id"] for v in r.json()["voices"]] == sorted(V0_19_TEST_VOICES)
    assert elapsed < 2, f"listing took {elapsed:.1f}s"
    models = {m["id"]: m for m in httpx.get(plain.url + "/v1/models").json()["data"]}
    assert models["kokoro-v0_19"]["state"] == "not_loaded"
    assert httpx.get(plain.url + "/health").json()["versions"]["v0_19"]["state"] == "not_loaded"
    assert "model v0_19 ready" not in plain.log()
