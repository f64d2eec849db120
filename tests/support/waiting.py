"""Waiting for a condition instead of sleeping a fixed time."""
import time
from typing import Callable


def eventually(condition: Callable[[], object], timeout: float = 30.0, interval: float = 0.05) -> bool:
    """True as soon as ``condition()`` is truthy, False if it never was within ``timeout`` seconds.

    The condition is tried once more at the deadline, so a slow last poll cannot turn a success into a
    timeout. Use it as ``assert eventually(lambda: ...)``: the assertion fails if the state never came.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval)


def stays(condition: Callable[[], object], duration: float, interval: float = 0.05) -> bool:
    """True if ``condition()`` held on every poll for ``duration`` seconds (a state that must not change)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(interval)
    return bool(condition())
