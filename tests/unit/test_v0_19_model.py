"""Kokoro v0.19 in its real layout: random models written by the tool (v0.19 config format, `net`
wrapper, 511-row packs) load through the real spec, the real specs refuse each other's files, and the
real voice packs of both versions load and are indexed by each version's row rule."""
import json
import zipfile
from types import SimpleNamespace

import pytest
import torch

from api.src.builds import VERSIONS
from api.src.builds.v0_19 import PLBERT, TEXT_ENCODER_KERNEL_SIZE
from api.src.builds.v0_19.vocab import VOCAB
from api.src.inference.backend import KokoroBackend
from api.src.inference.voices import VoiceLibrary
from api.src.inference.weights import PARTS, WeightsError, adain_norm_keys, load_kmodel, new_kmodel
from api.src.tools import random_model as rm
from tests.support.model_checks import assert_same_weights_and_output
from tests.support.references import SHARED, requires_shared

V0_19 = VERSIONS["v0_19"]
V1_0 = VERSIONS["v1_0"]
SEED = 4
REAL_CONFIG = SHARED / "models" / "v0_19" / "config.json"
REAL_V0_19_VOICES = ["af", "af_bella", "af_nicole", "af_sarah", "af_sky", "am_adam", "am_michael",
                     "bf_emma", "bf_isabella", "bm_george", "bm_lewis"]
REAL_V1_0_VOICES = sorted("""
    af_alloy af_aoede af_bella af_heart af_jessica af_kore af_nicole af_nova af_river af_sarah af_sky
    am_adam am_echo am_eric am_fenrir am_liam am_michael am_onyx am_puck am_santa
    bf_alice bf_emma bf_isabella bf_lily bm_daniel bm_fable bm_george bm_lewis
    ef_dora em_alex em_santa ff_siwis hf_alpha hf_beta hm_omega hm_psi if_sara im_nicola
    jf_alpha jf_gongitsune jf_nezumi jf_tebukuro jm_kumo pf_dora pm_alex pm_santa
    zf_xiaobei zf_xiaoni zf_xiaoxiao zf_xiaoyi zm_yunjian zm_yunxi zm_yunxia zm_yunyang""".split())
# Token counts to check the row rule at: the smallest, a few, and the model's largest (510).
N_TOKENS = (1, 2, 37, 255, 510)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model dir, the v0_19 folder, the weights file's content) of a tiny random v0.19 model."""
    root = tmp_path_factory.mktemp("tiny-v0_19")
    folder = rm.write_random_model(root, version="v0_19", size="tiny", voices=("af", "bm_lewis"), seed=SEED)
    data = torch.load(folder / V0_19.weights_file, map_location="cpu", weights_only=True)
    return root, folder, data


@pytest.fixture(scope="module")
def built(tiny):
    """The in-memory model the tiny fixture saved, built from its config.json through the real spec."""
    _, folder, _ = tiny
    return rm.build_random_kmodel(V0_19.load_config(folder / "config.json"), seed=SEED, frames_per_phoneme=3.0)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A full-size random v0.19 model (no voices), written once."""
    return rm.write_random_model(tmp_path_factory.mktemp("full-v0_19"), version="v0_19", size="full", voices=())


def _save(tmp_path, data, name="weights.pth"):
    path = tmp_path / name
    torch.save(data, path)
    return path


def _random_ids(n_tokens: int, seed: int = 0) -> torch.LongTensor:
    """[1, n+2] ids of v0.19 symbols (pad `$` = 0 excluded), BOS/EOS included."""
    ids = torch.tensor(sorted(i for i in VOCAB.values() if i))
    pick = torch.randint(0, len(ids), (n_tokens,), generator=torch.Generator().manual_seed(seed))
    return torch.tensor([[0, *ids[pick].tolist(), 0]])


# --- the tiny model: config format, layout, loading ----------------------------------------------

def test_tiny_config_file_is_v0_19_format_and_describes_the_tiny_network(tiny):
    _, folder, _ = tiny
    raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert raw["decoder"]["type"] == "istftnet"
    assert not {"istftnet", "vocab"} & set(raw)
    # the tiny numbers the v0.19 loader lets override its trained ALBERT and kernel size
    assert raw["plbert"] == rm.TINY_OVERRIDES["plbert"] != PLBERT
    assert raw["text_encoder_kernel_size"] == rm.TINY_OVERRIDES["text_encoder_kernel_size"] != TEXT_ENCODER_KERNEL_SIZE
    assert raw == rm.build_file_config("v0_19", "tiny")

    config = V0_19.load_config(folder / "config.json")
    assert config == rm.build_config("v0_19", "tiny")
    # the same network as tiny v1.0, with v0.19's own vocab
    assert config == {**rm.build_config("v1_0", "tiny"), "vocab": VOCAB}


def test_tiny_weights_have_the_v0_19_layout(tiny, built):
    _, _, data = tiny
    assert set(data) == {"net"}
    parts = data["net"]
    assert set(parts) == set(PARTS)
    keys = [k for state in parts.values() for k in state]
    assert all(k.startswith("module.") for k in keys)
    assert any(k.endswith(".weight_g") for k in keys) and any(k.endswith(".weight_v") for k in keys)
    for name in PARTS:
        norms = adain_norm_keys(getattr(built, name))
        assert not {"module." + k for k in norms} & set(parts[name]), name
    assert adain_norm_keys(built.decoder) and adain_norm_keys(built.predictor)


def test_tiny_model_loads_through_the_real_spec_and_equals_the_in_memory_one(tiny, built):
    _, folder, _ = tiny
    loaded = load_kmodel(V0_19, V0_19.load_config(folder / "config.json"), folder / V0_19.weights_file)
    assert not loaded.training and loaded.device.type == "cpu"
    n_tokens = 8
    pack = torch.load(folder / "voices" / "af.pt", map_location="cpu", weights_only=True)
    assert_same_weights_and_output(loaded, built, _random_ids(n_tokens), pack[V0_19.voice_row(n_tokens)])


def test_tiny_voice_packs_have_511_rows_and_the_folder_is_complete(tiny):
    root, folder, _ = tiny
    assert sorted(p.name for p in (folder / "voices").iterdir()) == ["af.pt", "bm_lewis.pt"]
    pack = torch.load(folder / "voices" / "af.pt", weights_only=True)
    assert pack.shape == (511, 1, 256) and pack.dtype == torch.float32
    assert torch.equal(pack, rm.random_voice_pack("af", SEED, version="v0_19"))
    assert V0_19.missing_files(root) == []
    assert VoiceLibrary(folder / "voices", V0_19.voice_rows).pack("bm_lewis").shape == (511, 1, 256)


def test_random_v0_19_packs_have_the_v0_19_statistics():
    packs = torch.stack([rm.random_voice_pack(f"v{i}", version="v0_19") for i in range(20)])
    assert packs.shape == (20, 511, 1, 256)
    assert abs(packs.mean().item() - rm.V0_19_VOICE_MEAN) < 0.02
    assert abs(packs.std().item() - rm.V0_19_VOICE_STD) < 0.02
    # v1.0 packs stay what they were
    assert rm.random_voice_pack("af").shape == (510, 1, 256)
    assert torch.equal(rm.random_voice_pack("af"), rm.random_voice_pack("af", 0, 510, version="v1_0"))


@requires_shared
def test_v0_19_voice_constants_match_the_real_packs():
    packs = torch.stack([torch.load(p, map_location="cpu", weights_only=True)
                         for p in sorted((SHARED / "voices" / "v0_19").glob("*.pt"))])
    assert packs.shape == (11, 511, 1, 256)
    assert abs(packs.mean().item() - rm.V0_19_VOICE_MEAN) < 0.002
    assert abs(packs.std().item() - rm.V0_19_VOICE_STD) < 0.005


def test_cli_writes_v0_19_with_its_default_voices(tmp_path):
    assert rm.main(["--out", str(tmp_path), "--version", "v0_19", "--seed", "1"]) == 0
    folder = tmp_path / "v0_19"
    assert json.loads((folder / "config.json").read_text(encoding="utf-8")) == rm.build_file_config("v0_19", "tiny")
    assert sorted(p.stem for p in (folder / "voices").iterdir()) == sorted(rm.V0_19_DEFAULT_VOICES)
    assert rm.V0_19_DEFAULT_VOICES == ("af", "af_bella", "am_adam", "bf_emma")
    pack = torch.load(folder / "voices" / "af_bella.pt", weights_only=True)
    assert torch.equal(pack, rm.random_voice_pack("af_bella", seed=1, version="v0_19"))
    assert V0_19.missing_files(tmp_path) == []
    assert not (tmp_path / "v1_0").exists()


# --- refusals by the real specs --------------------------------------------------------------------

def test_v0_19_file_given_to_the_v1_0_spec_is_refused(tiny):
    _, folder, _ = tiny
    with pytest.raises(WeightsError, match=r"'net' wrapper: it looks like a Kokoro v0\.19 checkpoint, not v1_0"):
        load_kmodel(V1_0, rm.build_config("v1_0", "tiny"), folder / V0_19.weights_file)


def test_v1_0_file_given_to_the_v0_19_spec_is_refused(tiny, tmp_path):
    _, folder, data = tiny
    path = _save(tmp_path, data["net"], V1_0.weights_file)  # the same parts, at the top level as in v1.0
    with pytest.raises(WeightsError, match=r"top level: it looks like a Kokoro v1\.0 checkpoint, not v0_19"):
        load_kmodel(V0_19, V0_19.load_config(folder / "config.json"), path)


def test_v0_19_file_missing_a_parameter_is_refused(tiny, tmp_path):
    _, folder, data = tiny
    parts = {name: dict(state) for name, state in data["net"].items()}
    del parts["predictor"]["module.lstm.weight_hh_l0"]
    with pytest.raises(WeightsError, match=r"'predictor' lacks parameters: lstm\.weight_hh_l0"):
        load_kmodel(V0_19, V0_19.load_config(folder / "config.json"), _save(tmp_path, {"net": parts}))


# --- full size against the real v0.19 architecture -------------------------------------------------

@requires_shared
def test_full_config_file_is_the_real_v0_19_config():
    real = json.loads(REAL_CONFIG.read_text(encoding="utf-8"))
    assert rm.build_file_config("v0_19", "full") == real
    assert list(rm.build_file_config("v0_19", "full")) == list(real)


@requires_shared
def test_full_random_model_has_the_real_v0_19_architecture(full):
    assert json.loads((full / "config.json").read_text(encoding="utf-8")) == json.loads(
        REAL_CONFIG.read_text(encoding="utf-8"))
    written = torch.load(full / V0_19.weights_file, map_location="cpu", weights_only=True, mmap=True)
    assert set(written) == {"net"} and set(written["net"]) == set(PARTS)
    real = new_kmodel(V0_19.load_config(REAL_CONFIG))
    n_params = 0
    for name in PARTS:
        module = getattr(real, name)
        skip = adain_norm_keys(module)
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items() if k not in skip}
        got = {k.removeprefix("module."): tuple(v.shape) for k, v in written["net"][name].items()}
        assert got == expected, name
        n_params += sum(v.numel() for v in written["net"][name].values())
    assert 80e6 < n_params < 84e6, n_params


# --- real voice packs ------------------------------------------------------------------------------

def _check_real_packs(version: str, names: list[str]) -> None:
    spec = VERSIONS[version]
    library = VoiceLibrary(SHARED / "voices" / version, spec.voice_rows)
    assert library.names() == names
    backend = SimpleNamespace(spec=spec)  # KokoroBackend.style reads only the spec
    for name in names:
        pack = library.pack(name)
        assert pack.shape == (spec.voice_rows, 1, 256), name
        assert pack.dtype == torch.float32 and pack.device.type == "cpu", name
        raw = torch.load(SHARED / "voices" / version / f"{name}.pt", map_location="cpu", weights_only=True)
        raw = raw.reshape(spec.voice_rows, 1, 256)
        for n in N_TOKENS:
            row = spec.voice_row(n)
            expected_row = n if version == "v0_19" else n - 1  # the design's rule, stated independently
            assert row == expected_row
            assert torch.equal(pack[row], raw[expected_row]), (name, n)
            assert torch.equal(KokoroBackend.style(backend, pack, n), raw[expected_row]), (name, n)


@requires_shared
def test_real_v0_19_packs_load_and_use_row_n_tokens():
    _check_real_packs("v0_19", REAL_V0_19_VOICES)


@requires_shared
def test_real_v1_0_packs_load_and_use_row_n_tokens_minus_1():
    assert len(REAL_V1_0_VOICES) == 54
    _check_real_packs("v1_0", REAL_V1_0_VOICES)


def _as_cuda_saved(src, dst) -> None:
    """Rewrite a saved tensor as if it had been saved from CUDA (its storage tagged 'cuda:0')."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("data.pkl"):
                old = b"X\x03\x00\x00\x00cpu"  # pickle protocol 2 BINUNICODE 'cpu'
                assert data.count(old) == 1
                data = data.replace(old, b"X\x06\x00\x00\x00cuda:0")
            zout.writestr(info, data)


def test_a_cuda_saved_v0_19_pack_loads_on_the_cpu(tmp_path):
    """Some published v0.19 packs were saved from CUDA tensors: the library maps them to the CPU."""
    pack = rm.random_voice_pack("af", version="v0_19")
    torch.save(pack, tmp_path / "plain.pt")
    folder = tmp_path / "voices"
    folder.mkdir()
    _as_cuda_saved(tmp_path / "plain.pt", folder / "af.pt")
    if not torch.cuda.is_available():  # the file really names a CUDA device
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(folder / "af.pt", weights_only=True)
    loaded = VoiceLibrary(folder, V0_19.voice_rows).pack("af")
    assert loaded.device.type == "cpu" and loaded.dtype == torch.float32
    assert torch.equal(loaded, pack)
