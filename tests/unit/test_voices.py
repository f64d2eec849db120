"""Voice names, OpenAI names and mixes."""
import pytest
import torch

from api.src.core.exceptions import InvalidRequest
from api.src.inference.voices import MixTerm, VoiceLibrary, parse_mix


@pytest.fixture
def library(tmp_path):
    for i, name in enumerate(("af_bella", "af_sky", "am_adam")):
        torch.save(torch.full((510, 1, 256), float(i + 1)), tmp_path / f"{name}.pt")
    torch.save(torch.zeros(3, 256), tmp_path / "broken.pt")
    return VoiceLibrary(tmp_path, 510, {"alloy": "af_bella", "duo": "af_bella+am_adam"})


def test_parse_mix_forms():
    assert parse_mix("af_bella") == [MixTerm("af_bella", 1.0)]
    assert parse_mix(" af_bella(2) + af_sky(1) ") == [MixTerm("af_bella", 2.0), MixTerm("af_sky", 1.0)]
    assert parse_mix("af_bella-af_sky(0.5)") == [MixTerm("af_bella", 1.0), MixTerm("af_sky", -0.5)]


@pytest.mark.parametrize("spec", ["", "+", "a++b", "a(0)", "a(-1)", "-a", "a(2", "a b", "a+", "../x", "a" * 65,
                                  "+".join(["a"] * 17)])
def test_parse_mix_refuses(spec):
    with pytest.raises(InvalidRequest):
        parse_mix(spec)


def test_mix_is_weighted_mean(library):
    name, pack = library.resolve("af_bella(2)+am_adam(1)")
    assert name == "af_bella(2)+am_adam(1)"
    assert torch.allclose(pack, torch.full((510, 1, 256), (2 * 1 + 1 * 3) / 3))
    _, diff = library.resolve("am_adam-af_bella(0.5)")
    assert torch.allclose(diff, torch.full((510, 1, 256), 3 - 0.5))


def test_openai_names_and_unknown(library):
    assert library.resolve("alloy")[0] == "af_bella"
    assert torch.allclose(library.resolve("duo")[1], torch.full((510, 1, 256), 2.0))
    with pytest.raises(InvalidRequest) as info:
        library.resolve("nobody")
    assert "af_bella, af_sky, am_adam" in info.value.message
    with pytest.raises(InvalidRequest):
        library.resolve("broken")
    assert library.primary_name("alloy") == "af_bella"


def test_voice_combine_rules_refuse_before_any_model_is_built():
    """The service's rules, in order, without a model: saving off, a bad name, a save without a name, a
    list that is not plain names; none of them asks the manager for a backend."""
    import asyncio

    from api.src.core.exceptions import Forbidden
    from api.src.services.voice_combine import VoiceCombiner, mix_spec
    from api.src.structures.schemas import CombineRequest

    class NoModels:
        default_version = "v1_0"

        async def get(self, version):
            raise AssertionError("a refused request built a model")

    def refusal(allow_save, **body):
        with pytest.raises((Forbidden, InvalidRequest)) as info:
            asyncio.run(VoiceCombiner(NoModels(), allow_save=allow_save).combine(CombineRequest(**body)))
        return type(info.value).__name__, info.value.code

    assert refusal(False, voices="af_bella", save=True, name="mine") == ("Forbidden", "voice_save_disabled")
    assert refusal(True, voices="af_bella", name="../x") == ("InvalidRequest", "invalid_voice_name")
    assert refusal(True, voices="af_bella", save=True) == ("InvalidRequest", "invalid_voice_name")
    assert refusal(True, voices=["af_bella", "af_sky(2)"]) == ("InvalidRequest", "invalid_voice")
    assert mix_spec([" af_bella", "af_sky "]) == "af_bella+af_sky" and mix_spec("af_bella(2)") == "af_bella(2)"


@pytest.mark.parametrize("content, words", [
    ("not json", "cannot be read"),
    ('["alloy"]', "must be a JSON object"),
    ('{"v1_0": "am_adam"}', "'v1_0' must map"),
    ('{"v1_0": {"alloy": "am_adam(("}}', "v1_0.alloy"),
    ('{"v1_0": {"alloy": 3}}', "v1_0.alloy"),
])
def test_a_bad_openai_voice_map_stops_the_start(tmp_path, content, words):
    from api.src.core.config import Settings
    from api.src.inference.model_manager import ModelManager

    path = tmp_path / "map.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="OPENAI_VOICE_MAP") as info:
        ModelManager(Settings(_env_file=None, model_dir=tmp_path, openai_voice_map=path))
    assert words in str(info.value)


def test_openai_voice_map_entries_replace_the_packaged_ones(tmp_path):
    from api.src.inference.voices import load_openai_voice_map

    path = tmp_path / "map.json"
    path.write_text('{"v1_0": {"alloy": "am_adam", "mine": "af_sky"}}')
    mapped, packaged = load_openai_voice_map("v1_0", path), load_openai_voice_map("v1_0")
    assert mapped == {**packaged, "alloy": "am_adam", "mine": "af_sky"}
    assert load_openai_voice_map("v0_19", path) == load_openai_voice_map("v0_19")
