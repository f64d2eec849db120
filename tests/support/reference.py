"""The reference every synthesized chunk is judged against: the `kokoro` package's own one-item forward.

``reference_chunk`` is ``torch.manual_seed(seed)`` then ``KModel.forward_with_tokens`` on one chunk
with BOS/EOS around it, the way the package runs a chunk. The server never runs it: every chunk goes
through ``forward.forward_batch`` (a batch of one gives these bytes under torch-fp32, and its noise
comes from a per-item generator instead of the global one). The package's forward feeds float32 into
every module, so the reference exists only for a torch-fp32 model.
"""
import torch

from api.src.inference.backend import ChunkOutput
from api.src.inference.forward import PreparedModel


@torch.inference_mode()
def reference_chunk(model: PreparedModel, input_ids: list[int], ref_s: torch.Tensor, speed: float,
                    seed: int) -> ChunkOutput:
    """One chunk (ids without BOS/EOS) through the package's forward, its noise drawn from torch's global
    RNG after ``torch.manual_seed(seed)``; audio float32, durations with BOS and EOS."""
    if model.engine != "torch-fp32":
        raise ValueError(f"the package's forward runs float32 modules only, not a {model.engine} model")
    ids = torch.tensor([[0, *input_ids, 0]], dtype=torch.long, device=model.device)
    torch.manual_seed(seed)
    audio, pred_dur = model.kmodel.forward_with_tokens(ids, ref_s.to(model.device), speed)
    return ChunkOutput(audio.float().cpu().numpy().reshape(-1), pred_dur.cpu().numpy().reshape(-1))
