"""POST /v1/audio/voices/combine through the real server: the mix as a .pt pack, and saving it by name."""
import io

import httpx
import pytest
import torch

from tests.support.http_calls import assert_envelope
from tests.support.models import private_voices
from tests.support.server import AppServer

COMBINE = "/v1/audio/voices/combine"


def pack(model_dir, name, version="v1_0"):
    return torch.load(model_dir / version / "voices" / f"{name}.pt", map_location="cpu", weights_only=True).float()


def combine(server, body, status=200):
    r = httpx.post(server.url + COMBINE, json=body, timeout=60)
    assert r.status_code == status, r.text
    return r


def loaded(r) -> torch.Tensor:
    assert r.headers["content-type"] == "application/octet-stream"
    tensor = torch.load(io.BytesIO(r.content), map_location="cpu", weights_only=True)
    assert tensor.dtype == torch.float32
    return tensor


def speak_pcm(server, voice, seed=11):
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120, json={
        "input": "A saved voice speaks.", "voice": voice, "response_format": "pcm", "seed": seed})
    assert r.status_code == 200, r.text
    assert len(r.content) > 1000
    return r.content


def voice_ids(server):
    r = httpx.get(server.url + "/v1/audio/voices", timeout=30)
    assert r.status_code == 200
    return [v["id"] for v in r.json()["voices"]]


@pytest.fixture(scope="module")
def saving_server(v1_model_dir, tmp_path_factory):
    """ALLOW_VOICE_SAVE and NORMALIZE_VOICE_WEIGHTS=false, on a private voices folder (saves must not
    leak into the shared model dir); the weights are linked, not copied."""
    root = tmp_path_factory.mktemp("models-save")
    private_voices(v1_model_dir, root)
    proc = AppServer(root, model_free=True, allow_voice_save="true",
                     normalize_voice_weights="false").start()
    proc.model_dir = root
    yield proc
    proc.stop()


def test_weighted_mix_is_the_weighted_mean(server, model_dir):
    r = combine(server, {"voices": "af_bella(2)+af_sky(1)"})
    assert r.headers["content-disposition"] == 'attachment; filename="af_bella(2)+af_sky(1).pt"'
    mixed = loaded(r)
    assert mixed.shape == (510, 1, 256)
    expected = (2 * pack(model_dir, "af_bella") + pack(model_dir, "af_sky")) / 3
    assert torch.allclose(mixed, expected, atol=1e-6)
    assert not torch.allclose(mixed, pack(model_dir, "af_bella"), atol=1e-3)


def test_list_mixes_equally_and_subtraction(server, model_dir):
    bella, sky, adam = (pack(model_dir, n) for n in ("af_bella", "af_sky", "am_adam"))
    listed = loaded(combine(server, {"voices": ["af_bella", "af_sky", "am_adam"], "name": "trio"}))
    assert torch.allclose(listed, (bella + sky + adam) / 3, atol=1e-6)
    # Kokoro-FastAPI's bare body forms
    assert torch.allclose(loaded(combine(server, ["af_bella", "af_sky"])), (bella + sky) / 2, atol=1e-6)
    r = combine(server, "af_bella-af_sky(0.3)")
    assert torch.allclose(loaded(r), bella - 0.3 * sky, atol=1e-6)
    assert r.headers["content-disposition"] == 'attachment; filename="af_bella(1)-af_sky(0.3).pt"'
    r = combine(server, {"voices": "af_bella+af_sky", "name": "duet"})
    assert r.headers["content-disposition"] == 'attachment; filename="duet.pt"'


def test_model_picks_the_version(server, model_dir):
    mixed = loaded(combine(server, {"voices": "af_bella+af_sarah", "model": "kokoro-v0_19"}))
    assert mixed.shape == (511, 1, 256)
    expected = (pack(model_dir, "af_bella", "v0_19") + pack(model_dir, "af_sarah", "v0_19")) / 2
    assert torch.allclose(mixed, expected, atol=1e-6)


@pytest.mark.parametrize("voices, words", [
    ("nobody", ["nobody", "af_heart", "am_adam"]),
    ("af_bella+nobody(2)", ["nobody", "af_heart"]),
    ("af_bella(0)", ["weight", "af_heart"]),
    ("af_bella(0.0)+af_sky", ["weight", "af_heart"]),
    ("af_bella(1000)", ["weight", "af_heart"]),
    ("af_bella(" + "9" * 400 + ")", ["weight", "af_heart"]),
    ("af_bella(-1)", ["af_heart"]),
    ("af_bella(nan)", ["af_heart"]),
    ("af_bella(inf)", ["af_heart"]),
    ("af_bella(1e3)", ["af_heart"]),
    ("af_bella++af_sky", ["af_heart"]),
    ("+af_bella", ["af_heart"]),
    ("af_bella+", ["af_heart"]),
    ("-af_bella", ["af_heart"]),
    ("", []),
    ("../af_bella", ["af_heart"]),
    (["af_bella", "../x"], ["../x"]),
    (["af_bella(2)", "af_sky"], []),
    ([], []),
])
def test_bad_mixes_are_400_listing_voices(server, voices, words):
    r = combine(server, {"voices": voices}, status=400)
    assert_envelope(r, 400, words=words)


def test_speech_with_a_subtraction_mix(server):
    # The canonical name of a mix is read back for its language: "a(1)-b(0.3)" must parse again.
    assert len(speak_pcm(server, "af_bella-af_sky(0.3)")) > 1000


@pytest.mark.parametrize("voice", ["af_bella(0)", "+af_bella", "af_bella+", "af_bella(1000)", "af_bella(nan)"])
def test_speech_refuses_the_same_mixes(server, voice):
    r = httpx.post(server.url + "/v1/audio/speech", json={"input": "Hello.", "voice": voice}, timeout=60)
    assert_envelope(r, 400, param="voice", words=["af_heart"])


def test_save_refused_when_disabled(server):
    r = combine(server, {"voices": "af_bella+af_sky", "name": "af_blend", "save": True}, status=403)
    error = assert_envelope(r, 403, words=["ALLOW_VOICE_SAVE"])
    assert error["type"] == "permission_error"
    assert "af_blend" not in voice_ids(server)


def test_unknown_fields_refused(server):
    assert_envelope(combine(server, {"voices": "af_bella", "overwirte": True}, status=400), 400)


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "a b", "x" * 65, "", "af.bella", "af_bella\n", "alloy",
                                  "q_voice"])
def test_bad_names_are_400(saving_server, name):
    r = combine(saving_server, {"voices": "af_bella+af_sky", "name": name, "save": True}, status=400)
    assert_envelope(r, 400, param="name")
    folder = saving_server.model_dir / "v1_0"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "kokoro-v1_0.pth", "voices"]
    assert not list((folder / "voices").glob(".*"))   # no partial left either


def test_save_needs_a_name(saving_server):
    assert_envelope(combine(saving_server, {"voices": "af_bella", "save": True}, status=400), 400, param="name")


def test_saved_voice_is_listed_and_speaks(saving_server):
    before = voice_ids(saving_server)
    r = combine(saving_server, {"voices": "af_bella(0.5)+af_sky(0.5)", "name": "af_blend", "save": True})
    assert r.headers["x-voice-saved"] == "af_blend"
    assert r.headers["content-disposition"] == 'attachment; filename="af_blend.pt"'
    on_disk = torch.load(saving_server.model_dir / "v1_0" / "voices_saved" / "af_blend.pt", weights_only=True)
    assert torch.equal(on_disk, loaded(r))
    assert "af_blend" not in before and "af_blend" in voice_ids(saving_server)
    legacy = httpx.get(saving_server.url + "/v1/audio/voices?legacy=true", timeout=30).json()["voices"]
    assert "af_blend" in legacy
    # The saved pack is the mix: same seed, same audio as the mix spelled out
    assert speak_pcm(saving_server, "af_blend") == speak_pcm(saving_server, "af_bella(0.5)+af_sky(0.5)")
    assert speak_pcm(saving_server, "af_blend") != speak_pcm(saving_server, "af_bella")
    # ... and it mixes like any other voice
    assert combine(saving_server, {"voices": "af_blend+af_heart(0.5)"}).status_code == 200


def test_no_shadowing_without_overwrite(saving_server, v1_model_dir):
    bella = pack(v1_model_dir, "af_bella")
    sky = pack(v1_model_dir, "af_sky")
    combine(saving_server, {"voices": "af_bella", "name": "af_twice", "save": True})
    mix_before = loaded(combine(saving_server, {"voices": "af_twice(0.5)+af_sky(0.5)"}))
    assert torch.allclose(mix_before, (bella + sky) / 2, atol=1e-6)
    r = combine(saving_server, {"voices": "af_sky", "name": "af_twice", "save": True}, status=409)
    assert_envelope(r, 409, param="name", words=["overwrite"])
    r = combine(saving_server, {"voices": "af_sky", "name": "af_bella", "save": True}, status=409)
    assert_envelope(r, 409, param="name")
    assert torch.equal(loaded(combine(saving_server, {"voices": "af_bella"})), bella)
    # overwrite replaces it, and no cached pack or mix keeps the old one
    combine(saving_server, {"voices": "af_sky", "name": "af_twice", "save": True, "overwrite": True})
    assert torch.allclose(loaded(combine(saving_server, {"voices": "af_twice"})), sky, atol=1e-6)
    mix_after = loaded(combine(saving_server, {"voices": "af_twice(0.5)+af_sky(0.5)"}))
    assert torch.allclose(mix_after, sky, atol=1e-6)


def test_weights_as_given_without_normalization(saving_server, v1_model_dir):
    bella, sky = pack(v1_model_dir, "af_bella"), pack(v1_model_dir, "af_sky")
    assert torch.allclose(loaded(combine(saving_server, {"voices": "af_bella(0.5)"})), bella / 2, atol=1e-6)
    assert torch.allclose(loaded(combine(saving_server, {"voices": "af_bella(2)+af_sky(1)"})), 2 * bella + sky,
                          atol=1e-5)
    assert torch.equal(loaded(combine(saving_server, {"voices": "af_bella"})), bella)


def test_built_in_voices_are_read_only_even_with_overwrite(saving_server, v1_model_dir):
    heart = pack(v1_model_dir, "af_heart")
    r = combine(saving_server, {"voices": "af_sky", "name": "af_heart", "save": True, "overwrite": True}, status=409)
    assert assert_envelope(r, 409, param="name")["code"] == "voice_read_only"
    assert torch.equal(loaded(combine(saving_server, {"voices": "af_heart"})), heart)
    assert torch.equal(pack(saving_server.model_dir, "af_heart"), heart)   # the file is untouched too
    # saved voices go to their own folder, never beside the built-in ones
    combine(saving_server, {"voices": "af_sky", "name": "af_mine", "save": True})
    assert (saving_server.model_dir / "v1_0" / "voices_saved" / "af_mine.pt").is_file()
    assert not (saving_server.model_dir / "v1_0" / "voices" / "af_mine.pt").exists()


@pytest.mark.parametrize("name", ["af_voice\n", "af_voice\r\n", "\naf_voice"])
def test_names_with_a_newline_are_refused(saving_server, name):
    assert_envelope(combine(saving_server, {"voices": "af_sky", "name": name, "save": True}, status=400), 400,
                    param="name")
    r = httpx.post(saving_server.url + "/v1/audio/speech", timeout=60,
                   json={"input": "Hi.", "voice": "af_heart", "voice_aliases": {name: "af_sky"}})
    assert r.status_code in (200, 400)   # an alias name is stripped or refused, never a 500
