"""Which pack a voice spec stands for (issue 22 §4, §5): specs of one mix share a pack, no weight blows
up once normalized, and a damaged pack file is a clear InvalidRequest."""
import pytest
import torch

from api.src.core.exceptions import InvalidRequest
from api.src.inference.voices import MAX_MIX_WEIGHT, VoiceLibrary


@pytest.fixture
def library(tmp_path):
    for i, name in enumerate(("af_bella", "af_sky", "am_adam")):
        torch.save(torch.full((510, 1, 256), float(i + 1)), tmp_path / f"{name}.pt")
    return VoiceLibrary(tmp_path, 510, {"alloy": "af_bella"})


def test_specs_of_one_mix_have_one_identity_and_one_pack(library):
    specs = ("af_bella(2)+af_sky(1)", "af_bella(4.0)+af_sky(2)", "af_bella(1)+af_sky(0.5)", "alloy(2)+af_sky")
    assert len({library.identity(spec) for spec in specs}) == 1
    packs = [library.resolve(spec) for spec in specs]
    assert [name for name, _ in packs] == ["af_bella(2)+af_sky(1)", "af_bella(4)+af_sky(2)",
                                           "af_bella(1)+af_sky(0.5)", "af_bella(2)+af_sky(1)"]
    assert all(pack is packs[0][1] for _, pack in packs)
    assert library.identity("af_bella(3)") == library.identity("alloy") == (("af_bella", 1.0),)
    assert library.identity("af_bella+af_sky(2)") != library.identity("af_bella(2)+af_sky")


@pytest.mark.parametrize("spec", ["af_bella(1e-45)-af_sky(100)", "af_bella(0.000001)-af_sky(100)",
                                  "af_bella(0.5)-af_sky(51)"])
def test_a_normalized_weight_past_the_cap_is_refused(library, spec):
    with pytest.raises(InvalidRequest) as info:
        library.resolve(spec)
    assert info.value.code == "invalid_voice" and f"at most {MAX_MIX_WEIGHT:g}" in info.value.message


def test_a_weight_at_the_cap_mixes(library):
    _, pack = library.resolve("am_adam-af_bella(100)")
    assert torch.allclose(pack, torch.full((510, 1, 256), 3.0 - 100.0))
    un_normalized = VoiceLibrary(library.folder, 510, normalize_weights=False)
    _, pack = un_normalized.resolve("af_bella(0.000001)-af_sky(100)")   # as written: it is no division
    assert torch.isfinite(pack).all()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 cut short", bytes(range(256)) * 8])
def test_an_unreadable_pack_is_a_clear_error_naming_the_voice(library, content):
    (library.folder / "af_bad.pt").write_bytes(content)
    assert "af_bad" in library.names()
    with pytest.raises(InvalidRequest) as info:
        library.resolve("af_bad")
    assert info.value.code == "invalid_voice" and "'af_bad'" in info.value.message
    assert str(library.folder) not in info.value.message


def test_a_pack_of_values_that_are_not_finite_is_refused(library):
    torch.save(torch.full((510, 1, 256), float("nan")), library.folder / "af_nan.pt")
    with pytest.raises(InvalidRequest, match="not finite"):
        library.resolve("af_nan")
