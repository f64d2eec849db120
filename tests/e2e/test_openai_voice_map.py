"""OPENAI_VOICE_MAP: a file that says what each of OpenAI's voice names speaks (clients such as pipecat
send only those 13 names); its entries replace the packaged map's, names it leaves out keep theirs."""
import json

import httpx
import pytest

from tests.support.server import AppServer

SPEECH = {"input": "Hello there.", "response_format": "pcm", "seed": 11}


@pytest.fixture(scope="module")
def mapped(model_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("voice-map") / "voices.json"
    path.write_text(json.dumps({"_comment": "mine", "v1_0": {"alloy": "am_adam", "echo": "af_bella(2)+af_sky(1)"}}))
    proc = AppServer(model_dir, model_free=True, openai_voice_map=str(path)).start()
    yield proc
    proc.stop()


def speak(server, voice: str) -> bytes:
    r = httpx.post(server.url + "/v1/audio/speech", json={**SPEECH, "voice": voice}, timeout=60)
    assert r.status_code == 200, r.text
    return r.content


def test_a_custom_map_changes_what_alloy_means(mapped):
    assert speak(mapped, "alloy") == speak(mapped, "am_adam")
    assert speak(mapped, "alloy") != speak(mapped, "af_alloy")   # the packaged meaning
    assert speak(mapped, "echo") == speak(mapped, "af_bella(2)+af_sky(1)")
    assert speak(mapped, "nova") == speak(mapped, "af_nova")     # left out of the file: as packaged
