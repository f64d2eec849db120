"""The decoder and generator of ``kokoro.istftnet`` over a padded batch: one waveform per item, each
from its own frames only (masked AdaIN blocks, padding zeroed before each convolution, the iSTFT per
item). A batch of one unpadded item runs the generator's resblocks on the engine's own path where it
has one (``PreparedModel.one_item_resblocks``).
"""
from typing import TYPE_CHECKING, Optional, Sequence

import torch
import torch.nn.functional as F

from .adain import adain_resblk1d, adain_resblock1
from .inputs import ResblockPath
from .masks import conv_out_len, valid_mask, weights_dtype, zero_padding
from .source import source_spectra

if TYPE_CHECKING:
    from kokoro.istftnet import AdaINResBlock1, Generator
    from kokoro.model import KModel


def decoder(model: "KModel", asr: torch.Tensor, f0: torch.Tensor, n: torch.Tensor, s: torch.Tensor,
            frames: list[int], seeds: Sequence[int], one_item: Optional[ResblockPath]) -> list[torch.Tensor]:
    """Decoder.forward -> one waveform per item. asr [B, 512, F]; f0, n [B, 2F]; s [B, 128]; ``one_item``:
    the engine's path for the generator's resblocks on one unpadded item, if any."""
    dec = model.decoder
    dtype = weights_dtype(dec.encode)   # bfloat16 under the torch-bf16 engine; the harmonic source stays float32
    asr, s = asr.to(dtype), s.to(dtype)
    curve_lengths = [2 * m for m in frames]
    curve_valid = valid_mask(curve_lengths, f0.shape[-1], f0.device)
    # stride-2 convs back to frame rate; zeroed so their right edge sees what the unbatched run sees
    f0_down = dec.F0_conv(zero_padding(f0.unsqueeze(1).to(dtype), curve_valid))
    n_down = dec.N_conv(zero_padding(n.unsqueeze(1).to(dtype), curve_valid))
    x, lengths = adain_resblk1d(dec.encode, torch.cat([asr, f0_down, n_down], dim=1), s, frames)
    asr_res = dec.asr_res(asr)  # 1x1 conv
    res = True
    for block in dec.decode:
        if res:
            x = torch.cat([x, asr_res, f0_down, n_down], dim=1)
        x, lengths = adain_resblk1d(block, x, s, lengths)
        if block.upsample_type != "none":
            res = False
    return generator(dec.generator, x, lengths, s, f0, curve_lengths, seeds, one_item)


def resblock(block: "AdaINResBlock1", x: torch.Tensor, s: torch.Tensor, valid: Optional[torch.Tensor],
             one_item: Optional[ResblockPath]) -> torch.Tensor:
    """One of the generator's resblocks (``resblocks``, ``noise_res``): the engine's own path for one
    unpadded item where it has one for this block, else the masked ``adain_resblock1``."""
    if valid is None and x.shape[0] == 1 and one_item is not None and one_item.covers(block):
        return one_item(block, x, s)
    return adain_resblock1(block, x, s, valid)


def generator(gen: "Generator", x: torch.Tensor, lengths: list[int], s: torch.Tensor, f0: torch.Tensor,
              f0_lengths: list[int], seeds: Sequence[int], one_item: Optional[ResblockPath]) -> list[torch.Tensor]:
    """Generator.forward -> one waveform per item, each from its own frames only."""
    har, har_lengths = source_spectra(gen, f0, f0_lengths, seeds)
    har = har.to(x.dtype)
    for i in range(gen.num_upsamples):
        x = F.leaky_relu(x, negative_slope=0.1)
        src_lengths = [conv_out_len(gen.noise_convs[i], n) for n in har_lengths]
        x_source = gen.noise_convs[i](har)                             # har is zero past each item's end
        x_source = resblock(gen.noise_res[i], x_source, s,
                            valid_mask(src_lengths, x_source.shape[-1], x.device), one_item)
        # the transposed conv overlaps neighbouring frames: the padding must be 0
        x = gen.ups[i](zero_padding(x, valid_mask(lengths, x.shape[-1], x.device)))
        lengths = [conv_out_len(gen.ups[i], n) for n in lengths]
        if i == gen.num_upsamples - 1:
            x = gen.reflection_pad(x)  # pads on the left only: the same for every item
            lengths = [n + sum(gen.reflection_pad.padding) for n in lengths]
        if lengths != src_lengths:
            raise AssertionError(f"generator stage {i}: {lengths} frames vs source {src_lengths}")
        x = x + x_source
        valid = valid_mask(lengths, x.shape[-1], x.device)
        xs = None
        for j in range(gen.num_kernels):
            y = resblock(gen.resblocks[i * gen.num_kernels + j], x, s, valid, one_item)
            xs = y if xs is None else xs + y
        x = xs / gen.num_kernels
    x = F.leaky_relu(x)
    x = gen.conv_post(zero_padding(x, valid_mask(lengths, x.shape[-1], x.device))).float()
    spec = torch.exp(x[:, :gen.post_n_fft // 2 + 1, :])
    phase = torch.sin(x[:, gen.post_n_fft // 2 + 1:, :])
    # iSTFT per item over its own frames: overlap-add and the centre crop depend on where it ends
    return [gen.stft.inverse(spec[row:row + 1, :, :n], phase[row:row + 1, :, :n]).reshape(-1)
            for row, n in enumerate(lengths)]
