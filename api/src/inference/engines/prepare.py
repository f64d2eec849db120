"""``apply_engine``: a freshly loaded KModel prepared for an engine, as the ``PreparedModel`` the forward runs."""
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..forward import PreparedModel
from .channels_last import ChannelsLastResblocks

if TYPE_CHECKING:
    from kokoro.model import KModel


def _fold_weight_norm(module: nn.Module) -> None:
    """Replace every weight-normed layer's (g, v) by the weight they make, computed once in float32."""
    for sub in module.modules():
        if hasattr(sub, "weight_g") and hasattr(sub, "weight_v"):
            nn.utils.remove_weight_norm(sub)


def bf16_parts(model: "KModel") -> list[nn.Module]:
    """The submodules ``torch-bf16`` casts to bfloat16: prosody F0/N stacks and the decoder (whose harmonic
    source ``apply_engine`` sets back to float32; the STFT's window is no parameter and stays float32)."""
    pred = model.predictor
    return [pred.F0, pred.N, pred.F0_proj, pred.N_proj, model.decoder]


def apply_engine(model: "KModel", name: str) -> PreparedModel:
    """Prepare ``model`` (freshly loaded, in eval mode, on its device) for engine ``name``: its modules
    are cast in place, and what the forward must know of the engine comes with it on the result."""
    if name == "torch-fp32":
        return PreparedModel(model, name)
    if name != "torch-bf16":
        raise ValueError(f"unknown engine {name!r}")
    for part in bf16_parts(model):
        _fold_weight_norm(part)
        part.to(torch.bfloat16)
    model.decoder.generator.m_source.float()   # sine phases summed over every sample: float32
    # (the generator's STFT keeps its window as a plain tensor attribute, so it stays float32 as well)
    # oneDNN's bfloat16 convolutions want channels-last activations
    return PreparedModel(model, name, one_item_resblocks=ChannelsLastResblocks(model.decoder.generator))
