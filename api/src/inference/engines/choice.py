"""Which engine a server runs (ENGINE, ``auto`` decided by the CPU's instruction-set flags), and why."""
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

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
