"""Every bad input gets its status and OpenAI's error envelope; the listing endpoints answer."""
import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from api.src.core.config import Settings
from api.src.core.exceptions import Overloaded
from api.src.http.errors import error_type
from api.src.main import create_app

from tests.support.http_calls import assert_envelope


def post(server, body=None, **kwargs):
    return httpx.post(server.url + "/v1/audio/speech", json=body, timeout=60, **kwargs)


GOOD = {"input": "Hello world.", "voice": "af_heart"}


@pytest.mark.parametrize("body, param, words", [
    ({**GOOD, "model": "whisper-1"}, "model", ["whisper-1", "kokoro", "tts-1"]),
    ({**GOOD, "voice": "nobody"}, "voice", ["nobody", "af_heart", "am_adam"]),
    ({**GOOD, "voice": "af_heart+nobody(2)"}, "voice", ["nobody"]),
    ({**GOOD, "voice": "af_heart(0)"}, "voice", []),
    ({**GOOD, "voice": "af_heart++af_sky"}, "voice", []),
    ({**GOOD, "voice": ""}, "voice", []),
    ({**GOOD, "voice": "../../etc/passwd"}, "voice", []),
    ({**GOOD, "input": ""}, "input", []),
    ({**GOOD, "input": "   \n\t "}, "input", []),
    ({**GOOD, "input": "*** --- ..."}, "input", ["speakable"]),
    ({**GOOD, "input": "\u200b\u200b"}, "input", ["speakable"]),
    ({**GOOD, "input": "x" * 200_001}, "input", ["200000"]),
    ({**GOOD, "response_format": "ogg"}, "response_format", []),
    ({**GOOD, "speed": 4.5}, "speed", []),
    ({**GOOD, "speed": 0.1}, "speed", []),
    ({**GOOD, "speed": "fast"}, "speed", []),
    ({**GOOD, "stream_format": "websocket"}, "stream_format", []),
    ({**GOOD, "lang_code": "xx"}, "lang_code", []),
    ({"voice": "af_heart"}, "input", []),
    ({**GOOD, "seed": -1}, "seed", []),
])
def test_bad_requests_get_400_envelope(server, body, param, words):
    assert_envelope(post(server, body), 400, param, words)


def test_malformed_json(server):
    r = httpx.post(server.url + "/v1/audio/speech", content=b'{"input": "hi", ', timeout=30,
                   headers={"content-type": "application/json"})
    assert assert_envelope(r, 400)["code"] == "invalid_json"


def test_openai_client_reads_the_error(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.speech.create(model="tts-1", voice="nobody", input="hi")
    assert info.value.status_code == 400
    assert info.value.body["param"] == "voice"
    assert "af_heart" in info.value.body["message"]


def test_unknown_route_and_method(server):
    assert_envelope(httpx.get(server.url + "/v1/nothing-here"), 404)
    assert_envelope(httpx.get(server.url + "/v1/audio/speech"), 405)


class _FullSpeechService:
    """Refuses every request as the scheduler's admission does when it is full."""

    async def start(self, request):
        raise Overloaded("the server is busy; retry later", retry_after=3)


def test_each_status_has_one_error_type_wherever_it_is_raised(tmp_path):
    """The framework's 404 and a NotFound, the key check's 401, admission's 429, the body limit's 413 and
    validation's 400 all take their type from ``error_type``: one answer per status."""
    app = create_app(Settings(model_dir=tmp_path, temp_file_dir=tmp_path / "dl", api_keys=["key"],
                              max_request_bytes=1024, enable_web_ui=False))
    app.state.speech = _FullSpeechService()
    key = {"Authorization": "Bearer key"}
    http = TestClient(app)   # no lifespan: nothing is loaded, only the HTTP side answers
    answers = {
        "unknown route": (http.get("/v1/nothing-here", headers=key), 404, "invalid_request_error"),
        "NotFound": (http.get("/v1/models/nope", headers=key), 404, "invalid_request_error"),
        "bad key": (http.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401, "invalid_request_error"),
        "no key": (http.get("/v1/models"), 401, "invalid_request_error"),
        "admission": (http.post("/v1/audio/speech", json=GOOD, headers=key), 429, "rate_limit_error"),
        "too large": (http.post("/v1/audio/speech", content=b" " * 2048,
                                headers={**key, "Content-Type": "application/json"}), 413, "invalid_request_error"),
        "validation": (http.post("/v1/audio/speech", json={"voice": "af_heart"}, headers=key), 400,
                       "invalid_request_error"),
        "wrong method": (http.get("/v1/audio/speech", headers=key), 405, "invalid_request_error"),
    }
    for what, (r, status, expected) in answers.items():
        error = assert_envelope(r, status)
        assert error["type"] == expected == error_type(status), what
    assert answers["admission"][0].headers["retry-after"] == "3"
    assert answers["NotFound"][0].json()["error"]["code"] == "model_not_found"
    assert answers["bad key"][0].json()["error"]["code"] == "invalid_api_key"
    assert [error_type(s) for s in (403, 409, 500, 503, 504)] == \
        ["permission_error", "conflict_error", "server_error", "server_error", "timeout_error"]


def test_models(server, client):
    ids = {m.id for m in client.models.list()}
    assert {"kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "kokoro-v1_0"} <= ids
    assert client.models.retrieve("tts-1").id == "tts-1"
    assert_envelope(httpx.get(server.url + "/v1/models/nope"), 404)
    # a model value speech accepts (the manager's version_for) is one the models route knows too
    assert httpx.get(server.url + "/v1/models/v1_0").json()["version"] == "v1_0"


def test_voices(server):
    voices = httpx.get(server.url + "/v1/audio/voices").json()["voices"]
    assert {"id": "af_heart", "name": "Heart", "language": "en-US", "accent": "American English",
            "gender": "female"} in voices
    legacy = httpx.get(server.url + "/v1/audio/voices", params={"legacy": "true"}).json()["voices"]
    assert "af_heart" in legacy and all(isinstance(v, str) for v in legacy)
    assert httpx.get(server.url + "/v1/audio/voices", params={"model": "kokoro-v1_0"}).json()["voices"] == voices
    assert_envelope(httpx.get(server.url + "/v1/audio/voices", params={"model": "nope"}), 400, "model")


def test_health(server):
    r = httpx.get(server.url + "/health")
    assert r.status_code == 200
    assert r.json()["versions"]["v1_0"]["state"] == "ready"
    assert httpx.get(server.url + "/health/live").status_code == 200
