"""load_kmodel: accepts the real layout (as the random-model tool writes it), refuses anything that does
not fill the network, and says which version a file of the other layout looks like."""
import dataclasses

import pytest
import torch

from api.src.builds.v1_0 import SPEC
from api.src.inference.weights import PARTS, WeightsError, adain_norm_keys, load_kmodel
from tests.support.model_checks import assert_same_weights_and_output
from api.src.tools.random_model import build_config, build_random_kmodel, write_random_model

SEED = 3
NET_SPEC = dataclasses.replace(SPEC, version="v0_19", wrapper_key="net")  # the v0.19 layout


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(config, weights path, the file's content) of a tiny random v1.0 model."""
    folder = write_random_model(tmp_path_factory.mktemp("tiny"), size="tiny", voices=("af_heart",), seed=SEED)
    path = folder / SPEC.weights_file
    return build_config("v1_0", "tiny"), path, torch.load(path, map_location="cpu", weights_only=True)


def _write(tmp_path, data, **kwargs):
    path = tmp_path / "weights.pth"
    torch.save(data, path, **kwargs)
    return path


def _copy(parts):
    return {name: dict(state) for name, state in parts.items()}


def test_written_file_has_the_real_layout(tiny):
    config, _, parts = tiny
    assert set(parts) == set(PARTS)
    keys = [k for state in parts.values() for k in state]
    assert all(k.startswith("module.") for k in keys)
    assert any(k.endswith(".weight_g") for k in keys) and any(k.endswith(".weight_v") for k in keys)
    model = build_random_kmodel(config, seed=SEED)
    for name in PARTS:
        norms = adain_norm_keys(getattr(model, name))
        assert not {"module." + k for k in norms} & set(parts[name]), name
    assert adain_norm_keys(model.decoder) and adain_norm_keys(model.predictor)  # the exception is real


def test_loaded_model_equals_in_memory_model(tiny):
    config, path, _ = tiny
    loaded = load_kmodel(SPEC, config, path)
    built = build_random_kmodel(config, seed=SEED, frames_per_phoneme=3.0)
    assert not loaded.training and loaded.device.type == "cpu"
    ids = torch.tensor([[0, *torch.randint(1, 178, (20,), generator=torch.Generator().manual_seed(0)).tolist(), 0]])
    ref_s = torch.randn(1, 256, generator=torch.Generator().manual_seed(1)) * 0.19
    assert_same_weights_and_output(loaded, built, ids, ref_s)


def test_keys_without_module_prefix_and_legacy_format_are_accepted(tiny, tmp_path):
    config, _, parts = tiny
    bare = {name: {k.removeprefix("module."): v for k, v in state.items()} for name, state in parts.items()}
    # the pre-zip format cannot be memory-mapped: the loader falls back to a plain load
    path = _write(tmp_path, bare, _use_new_zipfile_serialization=False)
    load_kmodel(SPEC, config, path)


def test_adain_norms_and_old_position_ids_are_tolerated(tiny, tmp_path):
    config, _, parts = tiny
    parts = _copy(parts)
    parts["decoder"]["module.encode.norm1.norm.weight"] = torch.full((514,), 2.0)
    # older transformers saved this constant buffer; today it is rebuilt by the module
    parts["bert"]["module.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    model = load_kmodel(SPEC, config, _write(tmp_path, parts))
    assert torch.equal(model.decoder.encode.norm1.norm.weight, torch.full((514,), 2.0))


def test_missing_parameter_is_refused(tiny, tmp_path):
    config, _, parts = tiny
    parts = _copy(parts)
    del parts["decoder"]["module.generator.conv_post.weight_v"]
    with pytest.raises(WeightsError, match=r"'decoder'.*generator\.conv_post\.weight_v"):
        load_kmodel(SPEC, config, _write(tmp_path, parts))


def test_unexpected_key_is_refused(tiny, tmp_path):
    config, _, parts = tiny
    parts = _copy(parts)
    parts["predictor"]["module.extra.weight"] = torch.zeros(3)
    with pytest.raises(WeightsError, match=r"'predictor'.*extra\.weight"):
        load_kmodel(SPEC, config, _write(tmp_path, parts))


def test_shape_mismatch_is_refused(tiny, tmp_path):
    config, _, parts = tiny
    parts = _copy(parts)
    key = "module.embeddings.word_embeddings.weight"
    parts["bert"][key] = parts["bert"][key][:100]
    with pytest.raises(WeightsError, match=r"wrong shape.*word_embeddings\.weight \(100, 32\) != \(178, 32\)"):
        load_kmodel(SPEC, config, _write(tmp_path, parts))


def test_missing_and_unknown_parts_are_refused(tiny, tmp_path):
    config, _, parts = tiny
    parts = _copy(parts)
    del parts["text_encoder"]
    with pytest.raises(WeightsError, match=r"missing: \['text_encoder'\]"):
        load_kmodel(SPEC, config, _write(tmp_path, parts))
    parts = _copy(tiny[2])
    parts["style_encoder"] = {}
    with pytest.raises(WeightsError, match=r"unknown: \['style_encoder'\]"):
        load_kmodel(SPEC, config, _write(tmp_path, parts))


def test_v0_19_layout_given_for_v1_0_is_refused(tiny, tmp_path):
    config, _, _ = tiny
    path = _write(tmp_path, {"net": {name: {} for name in PARTS}})
    with pytest.raises(WeightsError, match=r"'net' wrapper: it looks like a Kokoro v0\.19 checkpoint, not v1_0"):
        load_kmodel(SPEC, config, path)


def test_wrapped_layout_loads_for_a_wrapped_spec_and_top_level_is_refused(tiny, tmp_path):
    config, path, parts = tiny
    with pytest.raises(WeightsError, match=r"top level: it looks like a Kokoro v1\.0 checkpoint, not v0_19"):
        load_kmodel(NET_SPEC, config, path)
    load_kmodel(NET_SPEC, config, _write(tmp_path, {"net": parts}))


def test_unreadable_files_are_refused(tiny, tmp_path):
    config, _, _ = tiny
    with pytest.raises(WeightsError, match="not found"):
        load_kmodel(SPEC, config, tmp_path / "absent.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_kmodel(SPEC, config, tmp_path / "junk.pth")
    with pytest.raises(WeightsError, match="no Kokoro model parts"):
        load_kmodel(SPEC, config, _write(tmp_path, {"a": 1, "b": 2}))
