"""GpuMemoryGuard: when it frees the CUDA cache, read through a fake memory reader (no GPU needed)."""
import asyncio

import numpy as np
import pytest

from api.src.inference import memory
from api.src.builds.base import SAMPLES_PER_FRAME
from api.src.inference.backend import ChunkOutput
from tests.support.backends import SeededByGlobalRng
from api.src.inference.memory import GpuMemoryGuard, MemorySnapshot
from api.src.inference.scheduler import InferenceScheduler

GIB = 2**30


class FakeReader:
    """A device of 10 GiB whose reserved memory drops to the allocated bytes on empty_cache."""

    def __init__(self, allocated: int, reserved: int, total: int = 10 * GIB):
        self.allocated, self.reserved, self.total = allocated, reserved, total
        self.empties = 0
        self.devices = []

    def snapshot(self, device):
        self.devices.append(device)
        return MemorySnapshot(self.allocated, self.reserved, self.total)

    def empty_cache(self):
        self.empties += 1
        self.reserved = self.allocated


def test_below_the_threshold_nothing_is_freed():
    reader = FakeReader(allocated=2 * GIB, reserved=int(7.9 * GIB))
    guard = GpuMemoryGuard(0.8, reader)
    assert guard.after_batch("cuda") is False
    assert reader.empties == 0 and guard.clears == 0
    assert guard.last == MemorySnapshot(2 * GIB, int(7.9 * GIB), 10 * GIB)


def test_past_the_threshold_the_cache_is_freed_once():
    reader = FakeReader(allocated=2 * GIB, reserved=9 * GIB)
    guard = GpuMemoryGuard(0.8, reader)
    assert guard.after_batch("cuda:0") is True
    assert reader.empties == 1 and guard.clears == 1
    assert guard.last.reserved == 2 * GIB          # the figures after the clear are what /metrics shows
    assert guard.after_batch("cuda:0") is False    # back under: the next batch does not clear again
    assert reader.empties == 1


def test_live_tensors_over_the_threshold_do_not_clear_in_vain():
    # 8.5 of 10 GiB in use and only 32 MiB cached: empty_cache could give back nothing worth a sync
    reader = FakeReader(allocated=int(8.5 * GIB), reserved=int(8.5 * GIB) + 32 * 2**20)
    guard = GpuMemoryGuard(0.8, reader)
    for _ in range(5):
        assert guard.after_batch("cuda") is False
    assert reader.empties == 0


def test_the_threshold_is_a_fraction_of_the_device():
    reader = FakeReader(allocated=0, reserved=5 * GIB)
    assert GpuMemoryGuard(0.5, reader).after_batch("cuda") is True
    reader = FakeReader(allocated=0, reserved=5 * GIB)
    assert GpuMemoryGuard(0.6, reader).after_batch("cuda") is False
    with pytest.raises(ValueError):
        GpuMemoryGuard(0.0, reader)
    with pytest.raises(ValueError):
        GpuMemoryGuard(1.5, reader)


def test_cpu_is_a_no_op_that_reads_nothing():
    reader = FakeReader(allocated=0, reserved=10 * GIB)
    guard = GpuMemoryGuard(0.1, reader)
    assert guard.after_batch("cpu") is False
    assert reader.devices == [] and reader.empties == 0


class CudaLabelBackend(SeededByGlobalRng):
    """Claims to run on CUDA (so the guard reads memory after its batches); runs nothing."""

    device = "cuda"

    def infer(self, input_ids, ref_s, speed):
        return ChunkOutput(np.zeros(SAMPLES_PER_FRAME, dtype=np.float32), np.array([1]))


def test_the_scheduler_consults_the_guard_it_is_given():
    """No process-wide guard: the app builds one with its threshold and hands it to the scheduler."""
    reader = FakeReader(allocated=0, reserved=9 * GIB)
    guard = GpuMemoryGuard(0.8, reader)

    async def main():
        scheduler = InferenceScheduler(2, lookahead=2, memory_guard=guard)
        scheduler.start()
        try:
            stream = scheduler.open_stream(CudaLabelBackend(), seed=1)
            await stream.submit([1], None, 1.0)
            stream.end_input()
            outputs = [out async for out in stream.results()]
            for _ in range(200):   # the worker consults the guard after delivering
                if guard.clears:
                    break
                await asyncio.sleep(0.01)
            return outputs
        finally:
            scheduler.stop()

    assert len(asyncio.run(main())) == 1
    assert guard.clears == 1 and reader.empties == 1
    assert not hasattr(memory, "configure") and not hasattr(memory, "after_batch")
