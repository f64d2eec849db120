"""Checks shared by the model-loading tests."""
import torch

SAMPLES_PER_FRAME = 600


def assert_same_weights_and_output(loaded, built, input_ids: torch.Tensor, ref_s: torch.Tensor) -> None:
    """`loaded` (from disk) equals `built` (in memory): every tensor, and the audio of one seeded forward."""
    expected = built.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, expected[key]), key
    outputs = []
    for model in (loaded, built):
        torch.manual_seed(0)  # the vocoder draws noise
        outputs.append(model.forward_with_tokens(input_ids, ref_s))
    (audio, dur), (audio2, dur2) = outputs
    assert torch.equal(dur, dur2) and torch.equal(audio, audio2)
    assert audio.shape[-1] == SAMPLES_PER_FRAME * int(dur.sum())
    assert torch.isfinite(audio).all()
