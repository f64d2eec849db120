"""The torch-bf16 engine's path for the generator's resblocks: channels-last, for one unpadded item.

A Conv1d gets its input in [B, C, T] layout; oneDNN's reduced-precision kernels want channels last, so
each bfloat16 conv reorders its input and output (measured: a third of the generator's time).
``ChannelsLastResblocks`` runs each prepared ``AdaINResBlock1`` as 2-D convs over [1, C, 1, T]
channels-last tensors instead, normalized by batch_norm over that one item (the same statistics as its
InstanceNorm), one reorder per block. It is the ``forward.ResblockPath`` that ``apply_engine`` puts on a
torch-bf16 ``PreparedModel``; the forward takes it only for a batch of one unpadded item (the CPU case)
and the float32 engine keeps the plain masked path, bit for bit.
"""
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from kokoro.istftnet import AdaIN1d, AdaINResBlock1, Generator


class ChannelsLastResblocks:
    """A generator's resblocks with their conv weights prepared once as [out, in, 1, k] channels-last
    tensors (convs1, then convs2); a ``forward.ResblockPath``."""

    def __init__(self, generator: "Generator"):
        from kokoro.istftnet import AdaINResBlock1

        def weights4(convs) -> list[torch.Tensor]:
            return [c.weight.detach()[:, :, None, :].contiguous(memory_format=torch.channels_last) for c in convs]

        self._weights: dict[nn.Module, tuple[list[torch.Tensor], list[torch.Tensor]]] = {
            block: (weights4(block.convs1), weights4(block.convs2))
            for block in generator.modules() if isinstance(block, AdaINResBlock1)}

    def covers(self, block: nn.Module) -> bool:
        return block in self._weights

    def __call__(self, block: nn.Module, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        weights1, weights2 = self._weights[block]
        return run_resblock(block, weights1, weights2, x, s)


def _conv(conv: nn.Conv1d, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    assert not isinstance(conv.padding, str), "kokoro's convs pad by a number of frames, not 'same'/'valid'"
    (s,), (p,), (d,) = conv.stride, conv.padding, conv.dilation
    return F.conv2d(x, weight, conv.bias, stride=(1, s), padding=(0, p), dilation=(1, d))


def _adain(adain: "AdaIN1d", x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """AdaIN1d of one item x [1, C, 1, T]: batch_norm's statistics over (1, 1, T) are InstanceNorm's."""
    h = adain.fc(s)
    gamma, beta = torch.chunk(h.view(h.size(0), h.size(1), 1, 1), chunks=2, dim=1)
    y = F.batch_norm(x, None, None, training=True, eps=adain.norm.eps)
    if adain.norm.affine:
        y = y * adain.norm.weight[:, None, None] + adain.norm.bias[:, None, None]
    return (1 + gamma) * y + beta


def run_resblock(block: "AdaINResBlock1", weights1: list[torch.Tensor], weights2: list[torch.Tensor],
                 x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``forward.adain.adain_resblock1`` for one unpadded item x [1, C, T], channels-last, with the
    block's conv weights as ``ChannelsLastResblocks`` prepared them."""
    x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    for c1, c2, w1, w2, n1, n2, a1, a2 in zip(block.convs1, block.convs2, weights1, weights2, block.adain1,
                                              block.adain2, block.alpha1, block.alpha2, strict=True):
        a1, a2 = a1[..., None], a2[..., None]
        xt = _adain(n1, x, s)
        xt = xt + (1 / a1) * (torch.sin(a1 * xt) ** 2)  # Snake1D
        xt = _conv(c1, w1, xt)
        xt = _adain(n2, xt, s)
        xt = xt + (1 / a2) * (torch.sin(a2 * xt) ** 2)  # Snake1D
        xt = _conv(c2, w2, xt)
        x = xt + x
    return x.squeeze(2)
