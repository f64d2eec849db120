"""The vocoder's harmonic source and its STFT, per item: each item's own length, and its own seeded noise.

SineGen / SourceModuleHnNSF and the STFT run on the item's own length: their linear interpolations and
the STFT's reflect padding look at the sequence's end. Their random draws (``rand`` for the initial
phases, ``randn_like`` for the additive noise) have shapes that depend on the item's length: they come
from a per-item ``torch.Generator`` seeded with the item's seed, in the unbatched order, so each item
gets the noise its own seeded run would draw and torch's global RNG is neither read nor advanced.
"""
from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from kokoro.istftnet import Generator


def harmonic_source(gen: "Generator", f0: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
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


def source_spectra(gen: "Generator", f0: torch.Tensor, f0_lengths: list[int],
                   seeds: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
    """STFT of each item's harmonic source, zero-padded into [B, n_fft + 2, frames] (+ frames per item).

    Per item: the STFT reflect-pads at the item's own end.
    """
    spectra = []
    for row, (n, seed) in enumerate(zip(f0_lengths, seeds, strict=True)):
        rng = torch.Generator(device=f0.device)
        rng.manual_seed(seed)
        har_source = harmonic_source(gen, f0[row:row + 1, :n], rng)
        spec, phase = gen.stft.transform(har_source)
        spectra.append(torch.cat([spec, phase], dim=1)[0])
    lengths = [h.shape[-1] for h in spectra]
    har = spectra[0].new_zeros(len(spectra), spectra[0].shape[0], max(lengths))
    for row, h in enumerate(spectra):
        har[row, :, :h.shape[-1]] = h
    return har, lengths
