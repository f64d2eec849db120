"""Where torch's CPU work may run: the inference thread, and threads that end when their work does.

torch's CPU kernels split large operations across an OpenMP (libgomp) team. Every thread that enters a
parallel region gets a team of its own, whose workers live as long as that thread. Once libgomp
manages more threads than there are CPUs, it stops letting idle workers spin: they sleep at once, and
each of the thousands of parallel regions in one forward pass then pays for waking them. Measured on 2
cores: a forward pass on one thread ran 15% (float32) to 35% (bfloat16) slower while a second,
long-lived thread held a team because it had built the model.

So the inference thread is the one long-lived thread that runs large torch operations. Work that must
happen elsewhere (building a model) runs in ``run_in_passing_thread``: a thread of its own that exits
with the work, which frees its team. Pool threads (anyio's, asyncio's) live on and must not do it;
small tensor operations (below torch's grain of 32768 elements) run inline and are fine anywhere.
"""
import asyncio
import threading
from concurrent.futures import Future
from typing import Callable, TypeVar

T = TypeVar("T")


async def run_in_passing_thread(fn: Callable[..., T], *args, name: str = "torch-passing") -> T:
    """``fn(*args)`` in a new thread that ends when it returns; its result or exception comes back here.

    Cancelling the caller does not stop ``fn``: the thread finishes its work and exits (as
    ``asyncio.to_thread`` would).
    """
    future: Future = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # delivered to the awaiting task, never lost in the thread
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await asyncio.wrap_future(future)
