"""Only regular files in a voices folder are voices: a FIFO (opening one would block), a link to
/dev/zero, a broken link or a directory named ``*.pt`` is neither listed nor spoken."""
import os

import httpx
import pytest

from tests.support.http_calls import assert_envelope
from tests.support.models import private_voices
from tests.support.server import AppServer

ODD = ["af_fifo", "af_zero", "af_broken", "af_folder", "af_savedfifo"]


@pytest.fixture(scope="module")
def odd_server(v1_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("models-odd")
    private_voices(v1_model_dir, root)
    voices, saved = root / "v1_0" / "voices", root / "v1_0" / "voices_saved"
    saved.mkdir()
    os.mkfifo(voices / "af_fifo.pt")
    (voices / "af_zero.pt").symlink_to("/dev/zero")
    (voices / "af_broken.pt").symlink_to(voices / "no_such_file.pt")
    (voices / "af_folder.pt").mkdir()
    os.mkfifo(saved / "af_savedfifo.pt")
    (voices / "af_linked.pt").symlink_to(voices / "af_heart.pt")   # a link to a pack is a voice
    proc = AppServer(root, model_free=True).start()
    yield proc
    proc.stop()


def test_only_regular_files_are_listed(odd_server):
    r = httpx.get(odd_server.url + "/v1/audio/voices", timeout=30)
    ids = [v["id"] for v in r.json()["voices"]]
    assert "af_heart" in ids and "af_linked" in ids
    assert not set(ODD) & set(ids), ids


@pytest.mark.parametrize("voice", ODD)
def test_odd_files_are_unknown_voices(odd_server, voice):
    r = httpx.post(odd_server.url + "/v1/audio/speech", timeout=30,
                   json={"input": "Hello.", "voice": voice, "response_format": "pcm"})
    assert assert_envelope(r, 400)["code"] == "voice_not_found"
