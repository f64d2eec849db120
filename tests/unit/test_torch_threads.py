"""torch_threads.run_in_passing_thread: the work runs off the event loop in a thread that then ends."""
import asyncio
import threading

import numpy as np
import pytest
import torch

from api.src.inference.torch_threads import run_in_passing_thread
from api.src.inference.voices import float32_copy


def test_result_comes_back_and_the_thread_has_ended():
    seen = []

    def work(a, b):
        seen.append(threading.current_thread())
        return a + b

    async def main():
        loop_thread = threading.current_thread()
        result = await run_in_passing_thread(work, 2, 3, name="adder")
        return loop_thread, result

    loop_thread, result = asyncio.run(main())
    assert result == 5
    (thread,) = seen
    assert thread is not loop_thread and thread.name == "adder"
    thread.join(5)
    assert not thread.is_alive()   # it exited with the work: no OpenMP team outlives it


def test_an_exception_reaches_the_caller():
    def work():
        raise ValueError("bad weights")

    with pytest.raises(ValueError, match="bad weights"):
        asyncio.run(run_in_passing_thread(work))


def test_a_cancelled_caller_lets_the_work_finish():
    done = threading.Event()
    release = threading.Event()

    def work():
        release.wait(5)
        done.set()

    async def main():
        task = asyncio.create_task(run_in_passing_thread(work))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    release.set()
    assert done.wait(5)


def test_float32_copy_owns_its_values():
    pack = torch.arange(12, dtype=torch.float64).reshape(3, 1, 4)[::2]   # a strided view, not float32
    copy = float32_copy(pack)
    assert copy.dtype == torch.float32 and copy.is_contiguous()
    assert np.array_equal(copy.numpy(), pack.numpy().astype(np.float32))
    copy[0, 0, 0] = 99
    assert pack[0, 0, 0] == 0
