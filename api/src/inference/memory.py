"""GPU memory between batches: give the CUDA cache back when it holds too much, and report it.

torch's caching allocator keeps freed blocks for reuse, so after a long input (large activations) a
process can go on holding far more device memory than it uses, until another process, or a larger
batch, runs out. ``GpuMemoryGuard.after_batch(device)`` runs on the inference thread after each
batch: when the memory this process holds on the device (torch's *reserved* bytes, what
``nvidia-smi`` shows for it) passes ``GPU_MEMORY_CLEAR_THRESHOLD`` of the device total, and at least
``min_release_bytes`` of it is cached rather than in use, it calls ``torch.cuda.empty_cache()``.
Reserved rather than allocated: only the cached part can be given back, so a trigger on allocated
bytes alone would clear in vain on every batch while live tensors fill the device. On the CPU it
does nothing.

One guard per process (there is one CUDA context per process): the app builds it with
GPU_MEMORY_CLEAR_THRESHOLD and hands it to the scheduler (and to /metrics); nothing here is global.
"""
from dataclasses import dataclass
from typing import Optional, Protocol

import torch
from loguru import logger


@dataclass(frozen=True)
class MemorySnapshot:
    allocated: int   # bytes in live tensors
    reserved: int    # bytes the caching allocator holds (live tensors + cache)
    total: int       # the device's memory


class MemoryReader(Protocol):
    """Where the guard reads memory figures and frees the cache (CUDA; a fake in tests)."""

    def snapshot(self, device: torch.device) -> MemorySnapshot: ...

    def empty_cache(self) -> None: ...


class CudaMemoryReader:
    """torch.cuda's counters: cheap host-side reads, no device synchronisation."""

    def snapshot(self, device: torch.device) -> MemorySnapshot:
        return MemorySnapshot(torch.cuda.memory_allocated(device), torch.cuda.memory_reserved(device),
                              torch.cuda.get_device_properties(device).total_memory)

    def empty_cache(self) -> None:
        torch.cuda.empty_cache()


class GpuMemoryGuard:
    """Decides, after each batch, whether to free the CUDA cache; counts how often it did."""

    def __init__(self, threshold: float = 0.8, reader: Optional[MemoryReader] = None,
                 min_release_bytes: int = 64 * 1024 * 1024):
        if not 0 < threshold <= 1:
            raise ValueError("threshold is a fraction of the device memory, in (0, 1]")
        self.threshold = threshold
        self.reader = reader or CudaMemoryReader()
        self.min_release_bytes = min_release_bytes
        self.clears = 0
        self.last: Optional[MemorySnapshot] = None   # as seen after the latest batch (for /metrics)

    def should_clear(self, snap: MemorySnapshot) -> bool:
        over = snap.reserved >= self.threshold * snap.total
        return over and snap.reserved - snap.allocated >= self.min_release_bytes

    def after_batch(self, device) -> bool:
        """Free the cache when over the threshold; True when it did. No-op (False) off CUDA."""
        device = torch.device(device)
        if device.type != "cuda":
            return False
        snap = self.reader.snapshot(device)
        cleared = self.should_clear(snap)
        if cleared:
            self.reader.empty_cache()
            self.clears += 1
            before, snap = snap, self.reader.snapshot(device)
            logger.debug("GPU cache freed: reserved {:.0f} -> {:.0f} MiB of {:.0f} MiB", before.reserved / 2**20,
                         snap.reserved / 2**20, snap.total / 2**20)
        self.last = snap
        return cleared

    def snapshot(self, device) -> Optional[MemorySnapshot]:
        """Current figures for a CUDA device (None elsewhere or without CUDA)."""
        device = torch.device(device)
        if device.type != "cuda" or not torch.cuda.is_available():
            return None
        return self.reader.snapshot(device)

