"""A batched forward over the `kokoro` package's KModel, matching its one-item forward item by item.

`KModel.forward_with_tokens` accepts one sequence at a time. `forward_batch` runs several chunks of
different lengths through the same submodules in one pass and promises, for every item:

- identical `pred_dur`, and
- max |audio difference| <= 1e-4 against
  ``torch.manual_seed(item.seed); model.forward_with_tokens(tensor([[0, *ids, 0]]), ref_s, speed)``
  (how the scheduler runs one chunk). A batch of one item gives the same bytes as that call.

Padding is what makes a naive batch wrong. Every place where one frame can see another is handled:

- ALBERT: an attention mask hides the padded tokens.
- LSTMs (duration encoder, text encoder, the predictor's `lstm` and `shared`): packed with each item's
  length, so the backward direction starts at the item's own last step.
- Alignment: built from each item's own durations; frames past an item's end are all-zero columns.
- InstanceNorm inside every AdaIN (prosody F0/N blocks, decoder, generator): mean and variance over the
  item's valid frames only. Padded frames in the statistics were by far the largest error.
- Convolutions: padded frames are zeroed first, so a kernel reaching past an item's end sees the zeros
  the unbatched run's own zero padding would give.
- Vocoder source (SineGen / SourceModuleHnNSF) and the STFT/iSTFT: run per item on the item's own
  length. Its linear interpolations and the STFT's reflect padding look at the sequence's end, and its
  random draws (`rand` for the initial phases, `randn_like` for the additive noise) have shapes that
  depend on the item's length: they come from a per-item `torch.Generator` seeded with `item.seed`,
  in the unbatched order, so each item gets the noise its own seeded run would draw.

Weights are only read: nothing in the `kokoro` package is patched. The functions below mirror the
package's modules (`modules.py`, `istftnet.py`) one by one; keep them in step when the package changes.
Sorting or bucketing items by length (to limit padding) is the caller's business.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # importing kokoro is slow-ish
    from kokoro.istftnet import AdaIN1d, AdaINResBlock1, AdainResBlk1d, Generator
    from kokoro.model import KModel


@dataclass
class BatchItem:
    """One chunk to synthesize."""

    input_ids: list[int]   # token ids without BOS/EOS (forward_batch adds 0 at both ends, like KModel.forward)
    ref_s: torch.Tensor    # [1, 256] style row: [:, :128] to the decoder, [:, 128:] to the prosody predictor
    speed: float
    seed: int              # seeds this item's vocoder noise, as torch.manual_seed(seed) does for one item


# --------------------------------------------------------------------------------------------------
# Lengths and masks


def _valid_mask(lengths: Sequence[int], total: int, device) -> Optional[torch.Tensor]:
    """[B, 1, total] True on each item's valid frames, or None when no item is padded (nothing to mask)."""
    if all(n == total for n in lengths):
        return None
    n = torch.tensor(list(lengths), device=device)
    return (torch.arange(total, device=device)[None, :] < n[:, None]).unsqueeze(1)


def _dtype(module: nn.Module) -> torch.dtype:
    """The dtype ``module``'s weights are kept in (what its inputs must be cast to)."""
    return next(module.parameters()).dtype


def _zero_padding(x: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
    """x [B, C, T] with every padded frame set to 0 (what a convolution's zero padding assumes is there)."""
    return x if valid is None else x.masked_fill(~valid, 0.0)


def _conv_out_len(conv: nn.Module, n: int) -> int:
    """Output length of a Conv1d / ConvTranspose1d for an input of length n (PyTorch's formulas)."""
    (k,), (s,), (p,), (d,) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    if isinstance(conv, nn.ConvTranspose1d):
        return (n - 1) * s - 2 * p + d * (k - 1) + conv.output_padding[0] + 1
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _run_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
    """A batch-first bidirectional LSTM over x [B, T, C]; padded steps come out as 0.

    Packed when items differ in length: unpacked, the backward direction would start in the padding.
    With no padding it runs unpacked, exactly like the one-item forward does for these LSTMs.
    """
    total = x.shape[1]
    if all(n == total for n in lengths):
        out, _ = lstm(x)
        return out
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(list(lengths)), batch_first=True,
                                               enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=total)
    return out


# --------------------------------------------------------------------------------------------------
# AdaIN blocks (kokoro.istftnet), with InstanceNorm statistics over each item's valid frames


def _instance_norm(norm: nn.InstanceNorm1d, x: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
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


def _adain(adain: "AdaIN1d", x: torch.Tensor, s: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
    """AdaIN1d.forward with masked statistics; s [B, style_dim] gives each item its own gamma/beta."""
    h = adain.fc(s)
    gamma, beta = torch.chunk(h.view(h.size(0), h.size(1), 1), chunks=2, dim=1)
    return (1 + gamma) * _instance_norm(adain.norm, x, valid) + beta


def _adain_resblk1d(block: "AdainResBlk1d", x: torch.Tensor, s: torch.Tensor,
                    lengths: list[int]) -> tuple[torch.Tensor, list[int]]:
    """AdainResBlk1d.forward (prosody F0/N blocks, decoder encode/decode) -> (out, out lengths).

    An upsampling block doubles every length (its depthwise ConvTranspose `pool` and nearest upsample).
    """
    upsample = block.upsample_type != "none"
    out_lengths = [2 * n for n in lengths] if upsample else lengths
    valid_in = _valid_mask(lengths, x.shape[-1], x.device)
    valid_out = _valid_mask(out_lengths, 2 * x.shape[-1] if upsample else x.shape[-1], x.device)

    r = block.actv(_adain(block.norm1, x, s, valid_in))
    if upsample:  # the transposed conv spreads each frame onto its neighbours: padding must be 0
        r = block.pool(_zero_padding(r, valid_in))
    r = block.conv1(block.dropout(_zero_padding(r, valid_out)))
    r = block.actv(_adain(block.norm2, r, s, valid_out))
    r = block.conv2(block.dropout(_zero_padding(r, valid_out)))
    # the shortcut (nearest upsample, 1x1 conv) is frame-wise: padding cannot leak through it
    out = (r + block._shortcut(x)) * torch.rsqrt(torch.tensor(2))
    return out, out_lengths


# Generator resblocks prepared for channels-last (``use_channels_last``): block -> its convs' weights as
# [out, in, 1, k] channels-last tensors, convs1 then convs2. Weak keys: a freed model frees its entries.
_CHANNELS_LAST: "weakref.WeakKeyDictionary[nn.Module, tuple[list[torch.Tensor], list[torch.Tensor]]]" = \
    weakref.WeakKeyDictionary()


def use_channels_last(model: "KModel") -> None:
    """Run ``model``'s generator resblocks channels-last when a batch holds one item (the CPU case).

    A Conv1d gets its input in [B, C, T] layout; oneDNN's reduced-precision kernels want channels last,
    so each bfloat16 conv reorders its input and output (measured: a third of the generator's time).
    Prepared blocks run as 2-D convs over [1, C, 1, T] channels-last tensors instead, normalized by
    batch_norm over that one item (the same statistics as its InstanceNorm), one reorder per block.
    Used by the torch-bf16 engine (engines.py); the float32 engine keeps the plain path, bit for bit.
    """
    from kokoro.istftnet import AdaINResBlock1

    def weights4(convs) -> list[torch.Tensor]:
        return [c.weight.detach()[:, :, None, :].contiguous(memory_format=torch.channels_last) for c in convs]

    for block in model.decoder.generator.modules():
        if isinstance(block, AdaINResBlock1):
            _CHANNELS_LAST[block] = (weights4(block.convs1), weights4(block.convs2))


def _conv_channels_last(conv: nn.Conv1d, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (s,), (p,), (d,) = conv.stride, conv.padding, conv.dilation
    return F.conv2d(x, weight, conv.bias, stride=(1, s), padding=(0, p), dilation=(1, d))


def _adain_channels_last(adain: "AdaIN1d", x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """AdaIN1d of one item x [1, C, 1, T]: batch_norm's statistics over (1, 1, T) are InstanceNorm's."""
    h = adain.fc(s)
    gamma, beta = torch.chunk(h.view(h.size(0), h.size(1), 1, 1), chunks=2, dim=1)
    y = F.batch_norm(x, None, None, training=True, eps=adain.norm.eps)
    if adain.norm.affine:
        y = y * adain.norm.weight[:, None, None] + adain.norm.bias[:, None, None]
    return (1 + gamma) * y + beta


def _adain_resblock1_channels_last(block: "AdaINResBlock1", x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``_adain_resblock1`` for one unpadded item, channels-last (see ``use_channels_last``)."""
    weights1, weights2 = _CHANNELS_LAST[block]
    x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    for c1, c2, w1, w2, n1, n2, a1, a2 in zip(block.convs1, block.convs2, weights1, weights2, block.adain1,
                                              block.adain2, block.alpha1, block.alpha2):
        a1, a2 = a1[..., None], a2[..., None]
        xt = _adain_channels_last(n1, x, s)
        xt = xt + (1 / a1) * (torch.sin(a1 * xt) ** 2)  # Snake1D
        xt = _conv_channels_last(c1, w1, xt)
        xt = _adain_channels_last(n2, xt, s)
        xt = xt + (1 / a2) * (torch.sin(a2 * xt) ** 2)  # Snake1D
        xt = _conv_channels_last(c2, w2, xt)
        x = xt + x
    return x.squeeze(2)


def _adain_resblock1(block: "AdaINResBlock1", x: torch.Tensor, s: torch.Tensor,
                     valid: Optional[torch.Tensor]) -> torch.Tensor:
    """AdaINResBlock1.forward (the generator's resblocks and noise_res): length-preserving dilated convs."""
    if valid is None and x.shape[0] == 1 and block in _CHANNELS_LAST:
        return _adain_resblock1_channels_last(block, x, s)
    for c1, c2, n1, n2, a1, a2 in zip(block.convs1, block.convs2, block.adain1, block.adain2,
                                      block.alpha1, block.alpha2):
        xt = _adain(n1, x, s, valid)
        xt = xt + (1 / a1) * (torch.sin(a1 * xt) ** 2)  # Snake1D
        xt = c1(_zero_padding(xt, valid))
        xt = _adain(n2, xt, s, valid)
        xt = xt + (1 / a2) * (torch.sin(a2 * xt) ** 2)  # Snake1D
        xt = c2(_zero_padding(xt, valid))
        x = xt + x
    return x


# --------------------------------------------------------------------------------------------------
# Text side: ALBERT, duration encoder, durations, alignment, text encoder (kokoro.modules, model.py)


def _pad_ids(items: Sequence[BatchItem], device) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """(ids [B, T] with BOS/EOS 0 and 0-padding, lengths incl. BOS/EOS, text_mask [B, T] True on padding)."""
    lengths = [len(item.input_ids) + 2 for item in items]
    total = max(lengths)
    ids = torch.zeros(len(items), total, dtype=torch.long)
    for row, item in enumerate(items):
        ids[row, 1:1 + len(item.input_ids)] = torch.tensor(item.input_ids, dtype=torch.long)
    text_mask = torch.arange(total)[None, :] >= torch.tensor(lengths)[:, None]
    return ids.to(device), lengths, text_mask.to(device)


def _bert(model: "KModel", ids: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """ALBERT + bert_encoder -> d_en [B, hidden, T]; the attention mask hides padded tokens."""
    bert_dur = model.bert(ids, attention_mask=(~text_mask).int())
    return model.bert_encoder(bert_dur).transpose(-1, -2)


def _duration_encoder(model: "KModel", d_en: torch.Tensor, s: torch.Tensor, lengths: list[int],
                      text_mask: torch.Tensor) -> torch.Tensor:
    """predictor.text_encoder (DurationEncoder) -> d [B, T, hidden + style].

    The package's module is batch-correct as it is (it packs its LSTMs with the lengths and masks after
    every layer norm) and the one-item forward takes the same packed path, so it is called directly.
    """
    return model.predictor.text_encoder(d_en, s, torch.tensor(lengths), text_mask)


def _durations(model: "KModel", d: torch.Tensor, lengths: list[int], speeds: torch.Tensor) -> torch.Tensor:
    """Frames per token [B, T] (int64), 0 on padded tokens: predictor.lstm (packed) + duration_proj."""
    x = _run_lstm(model.predictor.lstm, d, lengths)
    duration = torch.sigmoid(model.predictor.duration_proj(x)).sum(axis=-1) / speeds[:, None]
    pred_dur = torch.round(duration).clamp(min=1).long()
    valid = torch.arange(d.shape[1], device=d.device)[None, :] < torch.tensor(lengths, device=d.device)[:, None]
    return pred_dur * valid


def _alignment(pred_dur: torch.Tensor, dtype) -> tuple[torch.Tensor, list[int]]:
    """(alignment [B, T, F] with aln[b, t, f] = 1 iff frame f of item b speaks token t, frames per item).

    Each item's frames follow its own durations; frames past its end are all-zero columns.
    """
    end = pred_dur.cumsum(-1)                                          # [B, T]
    start = end - pred_dur
    frames = end[:, -1].tolist()
    f = torch.arange(max(frames), device=pred_dur.device)[None, None, :]
    aln = (f >= start[..., None]) & (f < end[..., None])
    return aln.to(dtype), frames


def _prosody(model: "KModel", en: torch.Tensor, s: torch.Tensor,
             frames: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """ProsodyPredictor.F0Ntrain -> (F0 [B, 2F], N [B, 2F], their lengths 2 * frames)."""
    pred = model.predictor
    x = _run_lstm(pred.shared, en.transpose(-1, -2), frames).transpose(-1, -2)
    dtype = _dtype(pred.F0)   # bfloat16 under the torch-bf16 engine (engines.py)
    x, s = x.to(dtype), s.to(dtype)
    curves = []
    for blocks, proj in ((pred.F0, pred.F0_proj), (pred.N, pred.N_proj)):
        y, lengths = x, frames
        for block in blocks:
            y, lengths = _adain_resblk1d(block, y, s, lengths)
        curves.append(proj(y).squeeze(1).float())  # 1x1 conv: frame-wise
    return curves[0], curves[1], lengths


def _text_encoder(model: "KModel", ids: torch.Tensor, lengths: list[int], text_mask: torch.Tensor) -> torch.Tensor:
    """TextEncoder -> t_en [B, hidden, T]. Batch-correct as it is: it zeroes padding before each conv
    and packs its LSTM, exactly the path the one-item forward takes."""
    return model.text_encoder(ids, torch.tensor(lengths), text_mask)


# --------------------------------------------------------------------------------------------------
# Decoder and generator (kokoro.istftnet)


def _decoder(model: "KModel", asr: torch.Tensor, f0: torch.Tensor, n: torch.Tensor, s: torch.Tensor,
             frames: list[int], seeds: Sequence[int]) -> list[torch.Tensor]:
    """Decoder.forward -> one waveform per item. asr [B, 512, F]; f0, n [B, 2F]; s [B, 128]."""
    dec = model.decoder
    dtype = _dtype(dec.encode)   # bfloat16 under the torch-bf16 engine; the harmonic source stays float32
    asr, s = asr.to(dtype), s.to(dtype)
    curve_lengths = [2 * m for m in frames]
    curve_valid = _valid_mask(curve_lengths, f0.shape[-1], f0.device)
    # stride-2 convs back to frame rate; zeroed so their right edge sees what the unbatched run sees
    f0_down = dec.F0_conv(_zero_padding(f0.unsqueeze(1).to(dtype), curve_valid))
    n_down = dec.N_conv(_zero_padding(n.unsqueeze(1).to(dtype), curve_valid))
    x, lengths = _adain_resblk1d(dec.encode, torch.cat([asr, f0_down, n_down], axis=1), s, frames)
    asr_res = dec.asr_res(asr)  # 1x1 conv
    res = True
    for block in dec.decode:
        if res:
            x = torch.cat([x, asr_res, f0_down, n_down], axis=1)
        x, lengths = _adain_resblk1d(block, x, s, lengths)
        if block.upsample_type != "none":
            res = False
    return _generator(dec.generator, x, lengths, s, f0, curve_lengths, seeds)


def _harmonic_source(gen: "Generator", f0: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """One item's harmonic source [1, samples]: f0_upsamp + SourceModuleHnNSF's sine branch.

    f0 [1, 2F] is the item's own curve (no padding): SineGen's linear interpolations read the sequence's
    last frame, so padding would change the end of the waveform. The random draws mirror SineGen in the
    unbatched order, from `rng` instead of the global generator: `rand` (initial phases), then
    `randn_like` (additive noise). SourceModuleHnNSF then draws its noise branch, which the generator
    never uses and which comes after every draw that matters, so it is not drawn here.
    """
    source = gen.m_source
    sine = source.l_sin_gen
    f0 = gen.f0_upsamp(f0[:, None]).transpose(1, 2)                    # [1, samples, 1]
    fn = f0 * torch.arange(1, sine.harmonic_num + 2, device=f0.device, dtype=f0.dtype)[None, None, :]
    # SineGen._f02sine (flag_for_pulse is False in the generator)
    rad_values = (fn / sine.sampling_rate) % 1
    rand_ini = torch.rand(fn.shape[0], fn.shape[2], device=fn.device, dtype=fn.dtype, generator=rng)
    rand_ini[:, 0] = 0
    rad_values[:, 0, :] = rad_values[:, 0, :] + rand_ini
    rad_values = F.interpolate(rad_values.transpose(1, 2), scale_factor=1 / sine.upsample_scale,
                               mode="linear").transpose(1, 2)
    phase = torch.cumsum(rad_values, dim=1) * 2 * torch.pi
    phase = F.interpolate(phase.transpose(1, 2) * sine.upsample_scale, scale_factor=sine.upsample_scale,
                          mode="linear").transpose(1, 2)
    sine_waves = torch.sin(phase) * sine.sine_amp
    # SineGen.forward: voiced/unvoiced mask and additive noise
    uv = (f0 > sine.voiced_threshold).type(torch.float32)
    noise_amp = uv * sine.noise_std + (1 - uv) * sine.sine_amp / 3
    # randn_like(sine_waves) as SineGen draws it: sine_waves is a transposed view, and randn_like keeps
    # its strides, so the draws fill memory in that order. empty_like + normal_ is randn_like's own path.
    noise = noise_amp * torch.empty_like(sine_waves).normal_(0.0, 1.0, generator=rng)
    sine_waves = sine_waves * uv + noise
    # SourceModuleHnNSF: merge the harmonics
    har_source = source.l_tanh(source.l_linear(sine_waves))
    return har_source.transpose(1, 2).squeeze(1)


def _source_spectra(gen: "Generator", f0: torch.Tensor, f0_lengths: list[int],
                    seeds: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
    """STFT of each item's harmonic source, zero-padded into [B, n_fft + 2, frames] (+ frames per item).

    Per item: the STFT reflect-pads at the item's own end.
    """
    spectra = []
    for row, (n, seed) in enumerate(zip(f0_lengths, seeds)):
        rng = torch.Generator(device=f0.device)
        rng.manual_seed(seed)
        har_source = _harmonic_source(gen, f0[row:row + 1, :n], rng)
        spec, phase = gen.stft.transform(har_source)
        spectra.append(torch.cat([spec, phase], dim=1)[0])
    lengths = [h.shape[-1] for h in spectra]
    har = spectra[0].new_zeros(len(spectra), spectra[0].shape[0], max(lengths))
    for row, h in enumerate(spectra):
        har[row, :, :h.shape[-1]] = h
    return har, lengths


def _generator(gen: "Generator", x: torch.Tensor, lengths: list[int], s: torch.Tensor, f0: torch.Tensor,
               f0_lengths: list[int], seeds: Sequence[int]) -> list[torch.Tensor]:
    """Generator.forward -> one waveform per item, each from its own frames only."""
    har, har_lengths = _source_spectra(gen, f0, f0_lengths, seeds)
    har = har.to(x.dtype)
    for i in range(gen.num_upsamples):
        x = F.leaky_relu(x, negative_slope=0.1)
        src_lengths = [_conv_out_len(gen.noise_convs[i], n) for n in har_lengths]
        x_source = gen.noise_convs[i](har)                             # har is zero past each item's end
        x_source = _adain_resblock1(gen.noise_res[i], x_source, s,
                                    _valid_mask(src_lengths, x_source.shape[-1], x.device))
        # the transposed conv overlaps neighbouring frames: the padding must be 0
        x = gen.ups[i](_zero_padding(x, _valid_mask(lengths, x.shape[-1], x.device)))
        lengths = [_conv_out_len(gen.ups[i], n) for n in lengths]
        if i == gen.num_upsamples - 1:
            x = gen.reflection_pad(x)  # pads on the left only: the same for every item
            lengths = [n + sum(gen.reflection_pad.padding) for n in lengths]
        if lengths != src_lengths:
            raise AssertionError(f"generator stage {i}: {lengths} frames vs source {src_lengths}")
        x = x + x_source
        valid = _valid_mask(lengths, x.shape[-1], x.device)
        xs = None
        for j in range(gen.num_kernels):
            y = _adain_resblock1(gen.resblocks[i * gen.num_kernels + j], x, s, valid)
            xs = y if xs is None else xs + y
        x = xs / gen.num_kernels
    x = F.leaky_relu(x)
    x = gen.conv_post(_zero_padding(x, _valid_mask(lengths, x.shape[-1], x.device))).float()
    spec = torch.exp(x[:, :gen.post_n_fft // 2 + 1, :])
    phase = torch.sin(x[:, gen.post_n_fft // 2 + 1:, :])
    # iSTFT per item over its own frames: overlap-add and the centre crop depend on where it ends
    return [gen.stft.inverse(spec[row:row + 1, :, :n], phase[row:row + 1, :, :n]).reshape(-1)
            for row, n in enumerate(lengths)]


# --------------------------------------------------------------------------------------------------
# The whole forward


@torch.inference_mode()
def forward_batch(model: "KModel", items: Sequence[BatchItem],
                  half: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Synthesize several chunks in one pass through `model`'s submodules (the model is not modified).

    Returns, per item and in order, (audio float32 [600 * pred_dur.sum()], pred_dur int64 [len(ids) + 2],
    BOS and EOS included). For each item, pred_dur is identical and the audio within 1e-4 of
    ``torch.manual_seed(item.seed); model.forward_with_tokens(tensor([[0, *ids, 0]]), item.ref_s, item.speed)``
    (bit-identical for a batch of one). Items may have any lengths up to the model's context; the global
    RNG is neither used nor advanced.

    ``half`` (CUDA only; ignored elsewhere) runs ALBERT, the bulk of the text side's matmuls, under
    float16 autocast; everything after it stays float32. The 1e-4 promise then holds only as far as
    the equivalence test run on a GPU says (tests/unit/test_batched_forward.py, skipped without one).
    """
    if not items:
        return []
    for item in items:
        if len(item.input_ids) + 2 > model.context_length:
            raise ValueError(f"{len(item.input_ids)} tokens exceed the model's {model.context_length - 2}")
    device = model.device
    ids, lengths, text_mask = _pad_ids(items, device)
    ref_s = torch.cat([item.ref_s.reshape(1, -1) for item in items]).to(device)   # [B, 256]
    speeds = torch.tensor([float(item.speed) for item in items], device=device)
    s_prosody, s_decoder = ref_s[:, 128:], ref_s[:, :128]

    with torch.autocast("cuda", dtype=torch.float16, enabled=half and ids.device.type == "cuda"):
        d_en = _bert(model, ids, text_mask)
    d_en = d_en.float()
    d = _duration_encoder(model, d_en, s_prosody, lengths, text_mask)          # [B, T, 640]
    pred_dur = _durations(model, d, lengths, speeds)                          # [B, T]
    aln, frames = _alignment(pred_dur, d.dtype)                              # [B, T, F]
    en = d.transpose(-1, -2) @ aln
    f0, n, _ = _prosody(model, en, s_prosody, frames)
    asr = _text_encoder(model, ids, lengths, text_mask) @ aln
    audios = _decoder(model, asr, f0, n, s_decoder, frames, [item.seed for item in items])

    pred_dur = pred_dur.cpu()
    return [(audio.float().cpu().numpy(), pred_dur[row, :lengths[row]].numpy().astype(np.int64))
            for row, audio in enumerate(audios)]
