"""How the network runs: the ENGINE setting.

An engine is a precision plan applied once to a freshly loaded KModel; ``batched.forward_batch`` then
follows the dtypes it finds. Every engine keeps the server's contract: both versions, seeded
determinism, batching, word timestamps.

- ``torch-fp32``: the package's model as loaded. The reference every other engine is judged against.
- ``torch-bf16``: the text side (ALBERT, the duration encoder, the duration LSTM and projection, the
  text encoder) stays float32, so durations, and with them word timestamps and audio length, are those of
  ``torch-fp32``. The prosody convolution stacks (F0/N blocks) and the whole decoder and generator run
  in bfloat16 (weights cast once, weight norm folded first in float32), where oneDNN uses AVX512_BF16 or
  AMX; the generator's resblocks run channels-last (``batched.use_channels_last``). The vocoder's
  harmonic source (sine phases accumulated over every sample), its STFT and the final iSTFT stay
  float32. Fast only on CPUs with those instructions: without them oneDNN emulates
  bfloat16 and it is slower than float32.

``auto`` picks ``torch-bf16`` on a CPU that has AVX512_BF16 or AMX-BF16 (the instruction sets where it
passed the quality gate, see README's engine table) and ``torch-fp32`` everywhere else, CUDA included
(CUDA keeps its own half-precision switch, HALF_PRECISION).
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

import torch
from torch import nn

from .batched import use_channels_last

if TYPE_CHECKING:
    from kokoro.model import KModel

ENGINE_NAMES = ("torch-fp32", "torch-bf16")
SETTING_VALUES = ("auto", *ENGINE_NAMES)
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})   # /proc/cpuinfo names of the instructions bf16 needs


@dataclass(frozen=True)
class EngineChoice:
    """The engine a server runs, and why (logged at start, shown by /health)."""

    name: str
    reason: str


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of this machine's CPU (Linux); empty where they cannot be read."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def choose_engine(setting: str, device: str, flags: Optional[Iterable[str]] = None) -> EngineChoice:
    """The engine for ``setting`` (an ENGINE value) on ``device``. ``flags``: the CPU's instruction-set
    flags (read from /proc/cpuinfo when not given). A value outside ``SETTING_VALUES`` is a ValueError."""
    if setting not in SETTING_VALUES:
        raise ValueError(f"ENGINE must be one of {', '.join(SETTING_VALUES)}, not {setting!r}")
    found = sorted(BF16_FLAGS & frozenset(cpu_flags() if flags is None else flags))
    if setting != "auto":
        if setting == "torch-bf16" and device == "cpu" and not found:
            return EngineChoice(setting, f"set by ENGINE; this CPU ({platform.machine()}) lacks "
                                         "AVX512_BF16 and AMX-BF16, so bfloat16 is emulated and slow")
        return EngineChoice(setting, "set by ENGINE")
    if device != "cpu":
        return EngineChoice("torch-fp32", f"auto on {device} (HALF_PRECISION is that device's fast path)")
    if found:
        return EngineChoice("torch-bf16", f"auto: this CPU has {' and '.join(found)}")
    return EngineChoice("torch-fp32", "auto: this CPU has neither AVX512_BF16 nor AMX-BF16")


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


def apply_engine(model: "KModel", name: str) -> "KModel":
    """Prepare ``model`` (freshly loaded, in eval mode, on its device) for engine ``name``, in place."""
    if name == "torch-fp32":
        return model
    if name != "torch-bf16":
        raise ValueError(f"unknown engine {name!r}")
    for part in bf16_parts(model):
        _fold_weight_norm(part)
        part.to(torch.bfloat16)
    model.decoder.generator.m_source.float()   # sine phases summed over every sample: float32
    use_channels_last(model)   # oneDNN's bfloat16 convolutions want channels-last activations
    # (the generator's STFT keeps its window as a plain tensor attribute, so it stays float32 as well)
    return model
