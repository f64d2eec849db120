"""The AdaIN blocks of ``kokoro.istftnet`` over a padded batch: InstanceNorm statistics over each item's
valid frames only (padded frames in the statistics were by far the largest error of a naive batch),
and padding zeroed before every convolution."""
from typing import TYPE_CHECKING, Optional

import torch
from torch import nn

from .masks import valid_mask, zero_padding

if TYPE_CHECKING:  # importing kokoro is slow-ish
    from kokoro.istftnet import AdaIN1d, AdainResBlk1d, AdaINResBlock1


def instance_norm(norm: nn.InstanceNorm1d, x: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
    """InstanceNorm1d of x [B, C, T], each item normalized over its own valid frames only."""
    if valid is None:
        return norm(x)
    n = valid.sum(-1, keepdim=True).to(x.dtype)                       # [B, 1, 1]
    mean = x.masked_fill(~valid, 0.0).sum(-1, keepdim=True) / n
    centered = (x - mean).masked_fill_(~valid, 0.0)
    var = centered.square().sum(-1, keepdim=True) / n                  # biased, like InstanceNorm
    y = centered.mul_(torch.rsqrt(var + norm.eps))                     # padded frames come out 0
    if norm.affine:  # the real files leave it at 1 / 0, but a file may carry other values
        y = y * norm.weight[:, None] + norm.bias[:, None]
    return y


def adain1d(adain: "AdaIN1d", x: torch.Tensor, s: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
    """AdaIN1d.forward with masked statistics; s [B, style_dim] gives each item its own gamma/beta."""
    h = adain.fc(s)
    gamma, beta = torch.chunk(h.view(h.size(0), h.size(1), 1), chunks=2, dim=1)
    return (1 + gamma) * instance_norm(adain.norm, x, valid) + beta


def adain_resblk1d(block: "AdainResBlk1d", x: torch.Tensor, s: torch.Tensor,
                   lengths: list[int]) -> tuple[torch.Tensor, list[int]]:
    """AdainResBlk1d.forward (prosody F0/N blocks, decoder encode/decode) -> (out, out lengths).

    An upsampling block doubles every length (its depthwise ConvTranspose `pool` and nearest upsample).
    """
    upsample = block.upsample_type != "none"
    out_lengths = [2 * n for n in lengths] if upsample else lengths
    valid_in = valid_mask(lengths, x.shape[-1], x.device)
    valid_out = valid_mask(out_lengths, 2 * x.shape[-1] if upsample else x.shape[-1], x.device)

    r = block.actv(adain1d(block.norm1, x, s, valid_in))
    if upsample:  # the transposed conv spreads each frame onto its neighbours: padding must be 0
        r = block.pool(zero_padding(r, valid_in))
    r = block.conv1(block.dropout(zero_padding(r, valid_out)))
    r = block.actv(adain1d(block.norm2, r, s, valid_out))
    r = block.conv2(block.dropout(zero_padding(r, valid_out)))
    # the shortcut (nearest upsample, 1x1 conv) is frame-wise: padding cannot leak through it
    out = (r + block._shortcut(x)) * torch.rsqrt(torch.tensor(2))
    return out, out_lengths


def adain_resblock1(block: "AdaINResBlock1", x: torch.Tensor, s: torch.Tensor,
                    valid: Optional[torch.Tensor]) -> torch.Tensor:
    """AdaINResBlock1.forward (the generator's resblocks and noise_res): length-preserving dilated convs."""
    for c1, c2, n1, n2, a1, a2 in zip(block.convs1, block.convs2, block.adain1, block.adain2,
                                      block.alpha1, block.alpha2, strict=True):
        xt = adain1d(n1, x, s, valid)
        xt = xt + (1 / a1) * (torch.sin(a1 * xt) ** 2)  # Snake1D
        xt = c1(zero_padding(xt, valid))
        xt = adain1d(n2, xt, s, valid)
        xt = xt + (1 / a2) * (torch.sin(a2 * xt) ** 2)  # Snake1D
        xt = c2(zero_padding(xt, valid))
        x = xt + x
    return x
