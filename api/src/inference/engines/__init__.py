"""How the network runs: the ENGINE setting.

An engine is a precision plan applied once to a freshly loaded KModel (``apply_engine``), which returns
the ``forward.PreparedModel`` that ``forward.forward_batch`` runs: the forward follows the dtypes it
finds and takes the engine's own path for one item where the prepared model carries one. Every
engine keeps the server's contract: both versions, seeded determinism, batching, word timestamps.
The parts: ``choice`` (which engine, and why), ``prepare`` (``apply_engine``), ``channels_last``
(torch-bf16's path for the generator's resblocks).

- ``torch-fp32``: the package's model as loaded. The reference every other engine is judged against.
- ``torch-bf16``: the text side (ALBERT, the duration encoder, the duration LSTM and projection, the
  text encoder) stays float32, so durations, and with them word timestamps and audio length, are those of
  ``torch-fp32``. The prosody convolution stacks (F0/N blocks) and the whole decoder and generator run
  in bfloat16 (weights cast once, weight norm folded first in float32), where oneDNN uses AVX512_BF16 or
  AMX; for one unpadded item the generator's resblocks run channels-last (``channels_last``). The
  vocoder's harmonic source (sine phases accumulated over every sample), its STFT and the final iSTFT
  stay float32. Fast only on CPUs with those instructions: without them oneDNN emulates bfloat16 and it
  is slower than float32.

``auto`` picks ``torch-bf16`` on a CPU that has AVX512_BF16 or AMX-BF16 (the instruction sets where it
passed the quality gate, see README's engine table) and ``torch-fp32`` everywhere else, CUDA included
(CUDA keeps its own half-precision switch, HALF_PRECISION).
"""
from .choice import BF16_FLAGS, ENGINE_NAMES, SETTING_VALUES, EngineChoice, choose_engine, cpu_flags
from .prepare import apply_engine, bf16_parts

__all__ = ["BF16_FLAGS", "ENGINE_NAMES", "SETTING_VALUES", "EngineChoice", "apply_engine", "bf16_parts",
           "choose_engine", "cpu_flags"]
