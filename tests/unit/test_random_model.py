"""The random-model tool: configs, vocab, voice packs, duration rescaling, and a full-size model whose
layout matches the real v1.0 architecture."""
import json

import pytest
import torch

from api.src.builds.base import SAMPLES_PER_FRAME
from api.src.builds.v1_0 import SPEC
from api.src.inference.weights import PARTS, adain_norm_keys, load_kmodel, new_kmodel
from api.src.tools import random_model as rm
from tests.support.references import SHARED, requires_shared

REAL_CONFIG = SHARED / "models" / "v1_0" / "config.json"


def _random_input(n_tokens: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.tensor([[0, *torch.randint(1, 178, (n_tokens,), generator=gen).tolist(), 0]])
    return ids, rm.random_voice_pack("af_heart")[n_tokens - 1]


def _mean_duration(model, n_tokens=100, seeds=(0, 1, 2)) -> float:
    durs = [rm.predicted_durations(model, *_random_input(n_tokens, s))[1:-1].float() for s in seeds]
    return torch.cat(durs).mean().item()


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A full-size random v1.0 model written once, at 3 frames per phoneme."""
    return rm.write_random_model(tmp_path_factory.mktemp("full"), size="full", voices=("af_heart",),
                                 frames_per_phoneme=3.0)


# --- configs and vocab -----------------------------------------------------------------------------

def test_tiny_config_keeps_what_the_code_fixes():
    tiny = rm.build_config("v1_0", "tiny")
    assert (tiny["hidden_dim"], tiny["style_dim"], tiny["n_token"]) == (512, 128, 178)
    ist = tiny["istftnet"]
    assert ist["upsample_initial_channel"] == 512
    assert all(len(d) == 3 for d in ist["resblock_dilation_sizes"])
    # 2x (decoder) * upsampling * hop = 600 samples per duration frame, as in the real model
    up = ist["upsample_rates"][0] * ist["upsample_rates"][1]
    real = rm.FULL_ARCH["istftnet"]
    assert 2 * up * ist["gen_istft_hop_size"] == 2 * 60 * real["gen_istft_hop_size"] == SAMPLES_PER_FRAME
    for u, k in zip(ist["upsample_rates"], ist["upsample_kernel_sizes"]):
        conv = torch.nn.ConvTranspose1d(1, 1, k, u, padding=(k - u) // 2)
        assert conv(torch.zeros(1, 1, 17)).shape[-1] == 17 * u


def test_unknown_version_or_size_is_refused(tmp_path):
    with pytest.raises(ValueError):
        rm.build_config("v9_9")
    with pytest.raises(ValueError):
        rm.build_config("v1_0", "huge")
    with pytest.raises(ValueError):
        rm.write_random_model(tmp_path, version="v9_9")


def test_v1_0_config_file_is_the_kmodel_config():
    """v1.0's config.json is read as is: the file format and KModel's config are one."""
    assert rm.build_file_config("v1_0", "tiny") == rm.build_config("v1_0", "tiny")
    assert rm.build_file_config("v1_0", "full") == rm.build_config("v1_0", "full")


def test_vocab_ids_are_unique_and_below_n_token():
    vocab = rm.v1_like_vocab()
    assert len(set(vocab.values())) == len(vocab)
    assert max(vocab.values()) < 178
    assert {"(", ")", "\u0303", "ʣ", "ʥ", "ʦ", "ʨ", "ᵝ", "ꭧ", "ᵊ"} <= set(vocab)


def test_vocab_covers_misaki_english():
    en = pytest.importorskip("misaki.en")
    missing = (en.US_VOCAB | en.GB_VOCAB | set(';:,.!?—…"“”() ')) - set(rm.v1_like_vocab())
    assert not missing


@requires_shared
def test_full_config_is_the_real_architecture_and_vocab_covers_the_real_one():
    real = json.loads(REAL_CONFIG.read_text(encoding="utf-8"))
    full = rm.build_config("v1_0", "full")
    assert {k: v for k, v in full.items() if k != "vocab"} == {k: v for k, v in real.items() if k != "vocab"}
    assert set(real["vocab"]) <= set(full["vocab"])


# --- voice packs -----------------------------------------------------------------------------------

def test_voice_packs_are_deterministic_per_name_and_seed():
    a = rm.random_voice_pack("af_heart", seed=0)
    assert a.shape == (510, 1, 256) and a.dtype == torch.float32
    assert torch.equal(a, rm.random_voice_pack("af_heart", seed=0))
    assert not torch.equal(a, rm.random_voice_pack("af_bella", seed=0))
    assert not torch.equal(a, rm.random_voice_pack("af_heart", seed=1))
    packs = torch.stack([rm.random_voice_pack(f"v{i}") for i in range(20)])
    assert abs(packs.mean().item() - rm.VOICE_MEAN) < 0.02
    assert abs(packs.std().item() - rm.VOICE_STD) < 0.02


@requires_shared
def test_voice_constants_match_the_real_packs():
    packs = torch.stack([torch.load(p, map_location="cpu", weights_only=True)
                         for p in sorted((SHARED / "voices" / "v1_0").glob("*.pt"))[:20]])
    assert abs(packs.mean().item() - rm.VOICE_MEAN) < 0.01
    assert abs(packs.std().item() - rm.VOICE_STD) < 0.02


# --- tiny: rescaling and CLI -----------------------------------------------------------------------

@pytest.mark.parametrize("fpp", [2.0, 4.0])
def test_frames_per_phoneme_sets_the_mean_duration(fpp):
    model = rm.build_random_kmodel(rm.build_config("v1_0", "tiny"), frames_per_phoneme=fpp)
    assert abs(_mean_duration(model) - fpp) <= 0.3 * fpp


def test_frames_per_phoneme_none_leaves_the_random_layer():
    config = rm.build_config("v1_0", "tiny")
    model = rm.build_random_kmodel(config, seed=5, frames_per_phoneme=None)
    torch.manual_seed(5)
    plain = new_kmodel(config)
    assert torch.equal(model.predictor.duration_proj.linear_layer.weight,
                       plain.predictor.duration_proj.linear_layer.weight)
    with pytest.raises(ValueError):
        rm.build_random_kmodel(config, frames_per_phoneme=config["max_dur"])


def test_cli_writes_the_files(tmp_path):
    assert rm.main(["--out", str(tmp_path), "--voices", "af_sky,am_echo", "--seed", "2"]) == 0
    folder = tmp_path / "v1_0"
    assert json.loads((folder / "config.json").read_text(encoding="utf-8")) == rm.build_config("v1_0", "tiny")
    assert (folder / "kokoro-v1_0.pth").is_file()
    assert sorted(p.name for p in (folder / "voices").iterdir()) == ["af_sky.pt", "am_echo.pt"]
    pack = torch.load(folder / "voices" / "am_echo.pt", weights_only=True)
    assert torch.equal(pack, rm.random_voice_pack("am_echo", seed=2))
    assert SPEC.missing_files(tmp_path) == []


# --- full size -------------------------------------------------------------------------------------

def test_full_model_loads_with_82m_parameters_and_3_frames_per_phoneme(full):
    config = json.loads((full / "config.json").read_text(encoding="utf-8"))
    model = load_kmodel(SPEC, config, full / SPEC.weights_file)
    n_params = sum(p.numel() for p in model.parameters())
    assert 80e6 < n_params < 84e6, n_params
    assert 2.0 <= _mean_duration(model, seeds=(0,)) <= 4.5


@requires_shared
def test_real_config_architecture_has_exactly_the_written_keys(full):
    """The random full model's file has the layout a KModel of the real config expects."""
    written = torch.load(full / SPEC.weights_file, map_location="cpu", weights_only=True, mmap=True)
    real = new_kmodel(json.loads(REAL_CONFIG.read_text(encoding="utf-8")))
    assert set(written) == set(PARTS)
    for name in PARTS:
        module = getattr(real, name)
        skip = adain_norm_keys(module)
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items() if k not in skip}
        got = {k.removeprefix("module."): tuple(v.shape) for k, v in written[name].items()}
        assert got == expected, name
