"""ALLOW_VOICE_SAVE within a quota: VOICE_SAVE_MAX_COUNT voices and VOICE_SAVE_MAX_MB bytes per model
version; past either a save is 409 ``voice_quota_exceeded`` and nothing is written."""

import httpx
import pytest

from tests.support.http_calls import assert_envelope
from tests.support.models import private_voices
from tests.support.server import AppServer

COMBINE = "/v1/audio/voices/combine"


@pytest.fixture(scope="module")
def quota_server(v1_model_dir, tmp_path_factory):
    """Two saved voices and 0.9 MB (a v1.0 pack is 0.5 MB), one tiny voice already saved; a private copy of
    the voices folder (weights linked)."""
    root = tmp_path_factory.mktemp("models-quota")
    private_voices(v1_model_dir, root)
    (root / "v1_0" / "voices_saved").mkdir()
    (root / "v1_0" / "voices_saved" / "af_tiny.pt").write_bytes(b"x" * 10)
    proc = AppServer(root, model_free=True, allow_voice_save="true", voice_save_max_count=2, voice_save_max_mb=0.9).start()
    proc.saved = root / "v1_0" / "voices_saved"
    yield proc
    proc.stop()


def save(server, name, overwrite=False):
    return httpx.post(server.url + COMBINE, timeout=60, json={"voices": "af_bella+af_sky", "name": name,
                                                              "save": True, "overwrite": overwrite})


def test_saves_stop_at_the_count_and_the_bytes(quota_server):
    assert save(quota_server, "af_one").status_code == 200
    refused = save(quota_server, "af_two")                       # a third voice
    error = assert_envelope(refused, 409)
    assert error["code"] == "voice_quota_exceeded" and "VOICE_SAVE_MAX_COUNT" in error["message"]
    assert not (quota_server.saved / "af_two.pt").exists()
    refused = save(quota_server, "af_tiny", overwrite=True)      # 10 bytes -> 0.5 MB: two packs pass 0.9 MB
    error = assert_envelope(refused, 409)
    assert error["code"] == "voice_quota_exceeded" and "VOICE_SAVE_MAX_MB" in error["message"]
    assert (quota_server.saved / "af_tiny.pt").stat().st_size == 10
    assert save(quota_server, "af_one", overwrite=True).status_code == 200   # a replacement adds nothing
