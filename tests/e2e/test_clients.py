"""The paths and habits of clients people already use: Open WebUI (/v1/audio/models), Home Assistant and
others (no /v1 prefix), curl-like clients (a JSON body without Content-Type), voice pickers (language,
accent and gender of each voice), and listings that never wait for a model build."""
import httpx
import pytest

from tests.conftest import ServerProcess
from tests.e2e.test_errors import assert_envelope

SPEECH = {"input": "Hello.", "voice": "af_heart", "response_format": "pcm"}


@pytest.fixture(scope="module")
def plain(model_dir, tmp_path_factory):
    """Both versions on disk, only the default (v1.0) built and warmed."""
    proc = ServerProcess(model_dir, tmp_path_factory.mktemp("logs-clients") / "server.log",
                         body_read_timeout_s=2).start()
    yield proc
    proc.stop()


def test_audio_models_lists_the_models(plain):
    listed = httpx.get(plain.url + "/v1/audio/models")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body == httpx.get(plain.url + "/v1/models").json()
    assert body["object"] == "list"
    for card in body["data"]:
        assert {"id", "object", "created", "owned_by"} <= set(card) and card["object"] == "model"
    assert {"kokoro", "tts-1", "kokoro-v1_0", "kokoro-v0_19"} <= {card["id"] for card in body["data"]}
