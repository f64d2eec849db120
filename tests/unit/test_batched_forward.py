"""forward_batch against the stock one-item forward, item by item (tolerance, design notes §7).

Reference for every item: ``torch.manual_seed(seed); kmodel.forward_with_tokens([[0, *ids, 0]], ref_s,
speed)`` (tests/support/reference.py). Each item must get identical durations and audio within 1e-4
(max |difference|); a batch of one must give identical bytes. Random-weight models (torch-fp32) with
~3 frames per phoneme, tiny for the many length mixes, full-size (both versions) for a few.
"""
import numpy as np
import pytest
import torch

from api.src.inference.engines import apply_engine
from api.src.inference.forward import BatchItem, PreparedModel, forward_batch
from api.src.tools.random_model import VOICE_STD, build_config, build_random_kmodel
from tests.support.reference import reference_chunk

TOLERANCE = 1e-4
SAMPLES_PER_FRAME = 600


def _token_ids(config: dict) -> list[int]:
    return sorted(set(config["vocab"].values()) - {0})


def _make_items(vocab_ids: list[int], lengths, speeds, seed: int) -> list[BatchItem]:
    """Random ids from the vocab and random style rows (the real packs' spread), one seed per item."""
    rng = torch.Generator().manual_seed(seed)
    items = []
    for k, (n, speed) in enumerate(zip(lengths, speeds)):
        picks = torch.randint(len(vocab_ids), (n,), generator=rng).tolist()
        ref_s = torch.randn(1, 256, generator=rng) * VOICE_STD
        items.append(BatchItem([vocab_ids[p] for p in picks], ref_s, speed, seed * 1000 + k))
    return items


def _reference(model: PreparedModel, item: BatchItem) -> tuple[np.ndarray, np.ndarray]:
    """The item alone through the stock forward, seeded with its own seed."""
    out = reference_chunk(model, item.input_ids, item.ref_s, item.speed, item.seed)
    return out.audio, out.pred_dur


def _check(model: PreparedModel, items: list[BatchItem]) -> list[float]:
    """Assert the contract for every item; return each item's max |audio difference|."""
    results = forward_batch(model, items)
    assert len(results) == len(items)
    diffs = []
    for k, (item, (audio, pred_dur)) in enumerate(zip(items, results)):
        ref_audio, ref_dur = _reference(model, item)
        assert audio.dtype == np.float32 and pred_dur.dtype == np.int64
        assert pred_dur.shape == (len(item.input_ids) + 2,)
        np.testing.assert_array_equal(pred_dur, ref_dur, err_msg=f"item {k}: durations differ")
        assert audio.shape == ref_audio.shape == (SAMPLES_PER_FRAME * int(pred_dur.sum()),)
        diff = float(np.abs(audio - ref_audio).max())
        assert diff <= TOLERANCE, f"item {k} ({len(item.input_ids)} ids): max |diff| {diff:.3g}"
        diffs.append(diff)
    print(f"lengths {[len(i.input_ids) for i in items]}: max |diff| per item {[f'{d:.2g}' for d in diffs]}")
    return diffs


# --------------------------------------------------------------------------------------------------
# Tiny model: many length mixes


@pytest.fixture(scope="module")
def tiny():
    config = build_config("v1_0", "tiny")
    return apply_engine(build_random_kmodel(config, seed=11, frames_per_phoneme=3.0), "torch-fp32"), _token_ids(config)


def test_batch_of_one_is_bit_identical(tiny):
    model, vocab_ids = tiny
    for n, speed, seed in ((5, 1.0, 1), (60, 1.3, 2)):
        item = _make_items(vocab_ids, [n], [speed], seed)[0]
        (audio, pred_dur), = forward_batch(model, [item])
        ref_audio, ref_dur = _reference(model, item)
        np.testing.assert_array_equal(pred_dur, ref_dur)
        np.testing.assert_array_equal(audio, ref_audio)


@pytest.mark.parametrize("lengths, speeds", [
    ([5, 50], [1.0, 1.3]),
    ([3, 17, 80, 120], [1.0, 1.3, 1.3, 1.0]),
    ([510, 7, 64], [1.3, 1.0, 1.3]),     # 510: the model's whole context
    ([40, 40], [1.0, 1.3]),              # same lengths: no padding, different styles and seeds
    ([0, 1, 33], [1.0, 1.0, 1.3]),       # an empty chunk (BOS/EOS only) and a one-token one
], ids=lambda v: "-".join(map(str, v)))
def test_tiny_matches_unbatched(tiny, lengths, speeds):
    model, vocab_ids = tiny
    _check(model, _make_items(vocab_ids, lengths, speeds, seed=len(lengths) * 7 + sum(lengths)))


def test_same_item_same_audio_whatever_the_batch(tiny):
    """An item's audio depends on its own seed, not on its position or companions (within tolerance)."""
    model, vocab_ids = tiny
    a, b, c = _make_items(vocab_ids, [30, 12, 20], [1.0, 1.3, 1.0], seed=5)
    first = forward_batch(model, [a, b])
    second = forward_batch(model, [c, b, a])
    np.testing.assert_array_equal(first[0][1], second[2][1])
    assert np.abs(first[0][0] - second[2][0]).max() <= TOLERANCE
    assert np.abs(first[1][0] - second[1][0]).max() <= TOLERANCE


def test_global_rng_untouched_and_limits(tiny):
    model, vocab_ids = tiny
    state = torch.random.get_rng_state()
    forward_batch(model, _make_items(vocab_ids, [8, 3], [1.0, 1.0], seed=3))
    assert torch.equal(state, torch.random.get_rng_state())
    assert forward_batch(model, []) == []
    too_long = BatchItem([vocab_ids[0]] * (model.context_length - 1), torch.zeros(1, 256), 1.0, 0)
    with pytest.raises(ValueError, match="exceed"):
        forward_batch(model, [too_long])


# --------------------------------------------------------------------------------------------------
# Full-size models, both versions (built from each version's own config): one mix each, kept short
# because the full vocoder is slow on a CPU.

FULL_CASES = {
    "v1_0": ([80, 10, 30], [1.0, 1.3, 1.0]),
    "v0_19": ([60, 24, 1, 40], [1.3, 1.0, 1.0, 1.3]),
}


@pytest.mark.parametrize("version", sorted(FULL_CASES))
def test_full_matches_unbatched(version):
    config = build_config(version, "full")
    model = apply_engine(build_random_kmodel(config, seed=23 if version == "v1_0" else 29, frames_per_phoneme=3.0),
                         "torch-fp32")
    lengths, speeds = FULL_CASES[version]
    _check(model, _make_items(_token_ids(config), lengths, speeds, seed=sum(lengths)))
