"""Device-dependent scheduler settings, resolved once by the app at start-up.

``resolve_batch_size`` turns MAX_BATCH_SIZE's 0 ("by device") into a number; ``apply_gpu_memory_cap``
applies GPU_MEMORY_CAP_FRACTION to this process. Neither keeps any state here.
"""
import torch
from loguru import logger


def resolve_batch_size(setting: int, device: str) -> int:
    """MAX_BATCH_SIZE: 0 means by device, 1 on CPU (batching does not pay on a few cores), 16 on CUDA."""
    if setting > 0:
        return setting
    return 16 if device == "cuda" else 1


def apply_gpu_memory_cap(device: str, fraction: float) -> None:
    """GPU_MEMORY_CAP_FRACTION: cap this process's share of the GPU (0 = no cap). No-op off CUDA."""
    if device == "cuda" and fraction > 0:
        torch.cuda.set_per_process_memory_fraction(fraction)
        logger.info("GPU memory capped at {:.0%} of the device for this process", fraction)
