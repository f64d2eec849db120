"""Open WebUI's contract, read as its backend reads it (routers/audio.py, engine "openai" with a custom
base URL): models from ``GET {base}/audio/models`` at ``body["models"][i]["id"]``, voices from
``GET {base}/audio/voices`` as ``{voice["id"]: voice["name"]}``, and speech as ``POST {base}/audio/speech``
with the voice the user picked, which a picker may send back by its shown name."""
import httpx
import pytest

from tests.support.http_calls import assert_envelope
from tests.support.server import AppServer

VOICES = ("af_heart", "af_bella", "am_adam", "hf_alpha", "jf_alpha")   # two voices named "Alpha"


@pytest.fixture(scope="module")
def webui_server(v1_model_dir, tmp_path_factory):
    """The tiny v1.0 model with a voice folder where one readable name belongs to two voices."""
    source = v1_model_dir / "v1_0"
    root = tmp_path_factory.mktemp("webui-models")
    (root / "v1_0" / "voices").mkdir(parents=True)
    for name in ("config.json", "kokoro-v1_0.pth"):
        (root / "v1_0" / name).symlink_to(source / name)
    for voice, pack in zip(VOICES, ("af_heart", "af_bella", "am_adam", "af_sky", "af_nova"), strict=True):
        (root / "v1_0" / "voices" / f"{voice}.pt").symlink_to(source / "voices" / f"{pack}.pt")
    proc = AppServer(root, model_free=True).start()
    yield proc
    proc.stop()


def open_webui_models(base: str) -> list[dict]:
    return httpx.get(f"{base}/audio/models").json().get("models", [])


def open_webui_voices(base: str) -> dict[str, str]:
    return {voice["id"]: voice["name"] for voice in httpx.get(f"{base}/audio/voices").json().get("voices", [])}


@pytest.mark.parametrize("prefix", ["/v1", ""])
def test_open_webui_finds_the_models_and_openai_clients_still_do(webui_server, prefix):
    base = webui_server.url + prefix
    assert {"kokoro", "tts-1", "tts-1-hd", "kokoro-v1_0"} <= {m["id"] for m in open_webui_models(base)}
    body = httpx.get(f"{base}/audio/models").json()
    assert body["object"] == "list" and body["data"] == body["models"]   # OpenAI's shape in the same body
    assert body["data"] == httpx.get(f"{base}/models").json()["data"]


def test_open_webui_shows_readable_voice_names(webui_server):
    voices = open_webui_voices(webui_server.url + "/v1")
    assert voices["af_heart"] == "Heart" and voices["am_adam"] == "Adam"


@pytest.mark.parametrize("voice", ["Heart", "heart", "Heart(2)+Bella(1)"])
def test_a_readable_name_sent_back_as_the_voice_speaks_that_voice(webui_server, voice):
    by_id = {"Heart": "af_heart", "heart": "af_heart", "Heart(2)+Bella(1)": "af_heart(2)+af_bella(1)"}[voice]
    payload = {"input": "Hello there.", "voice": voice, "model": "tts-1", "seed": 7, "response_format": "pcm"}
    named = httpx.post(webui_server.url + "/v1/audio/speech", json=payload, timeout=60)
    assert named.status_code == 200, named.text
    same = httpx.post(webui_server.url + "/v1/audio/speech", json={**payload, "voice": by_id}, timeout=60)
    assert named.content == same.content


def test_a_name_two_voices_share_is_a_400_naming_both(webui_server):
    r = httpx.post(webui_server.url + "/v1/audio/speech", timeout=60,
                   json={"input": "Hello.", "voice": "Alpha", "response_format": "pcm"})
    error = assert_envelope(r, 400, "voice", words=("hf_alpha", "jf_alpha"))
    assert error["code"] == "ambiguous_voice"
    r = httpx.post(webui_server.url + "/v1/audio/speech", timeout=60,
                   json={"input": "Hello.", "voice": "Nobody", "response_format": "pcm"})
    assert assert_envelope(r, 400, "voice")["code"] == "voice_not_found"
