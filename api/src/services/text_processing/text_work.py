"""Where a request's text work (normalization, G2P) runs, and how long it may take: ``TextWork``.

Normalization and G2P are pure Python and regex work: they hold the GIL while they run, so a thread
does not keep them from the event loop, and one pathological input (a quadratic corner of misaki or
spaCy) stopped ``/health`` and every other request for minutes. ``TextWorkers`` runs them in worker
processes instead (``TEXT_WORKERS`` of them at most, ``text_worker.serve``), one call (a piece to
normalize, a sentence to phonemize) at a time per process, each call bounded by the request's
deadline: a call past it kills its process (a new one starts when next needed) and raises
``RequestTimeout`` (504). The loop, ``/health`` and the other requests' text work (on the other
processes) go on meanwhile. Processes start on first use (the warm-up's G2P starts the first; another
starts only when every running one is busy) and are shared by every app in the OS process.

``InProcessText`` (``TEXT_WORKERS=0``) is the old way: the same functions in the calling thread,
unbounded. Both give the same tokens for the same text.
"""
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from loguru import logger

from ...core.exceptions import RequestTimeout, ServiceUnavailable
from ...core.phonemes import G2P, PhonemeToken
from ...structures.normalization import NormalizationOptions
from . import text_worker
from .mapped_text import MappedText
from .normalizer import normalize_text

Normalizer = Callable[[MappedText], MappedText]


@dataclass(frozen=True)
class Deadline:
    """When a request's text work must be done (``time.monotonic()``), and the limit it came from."""

    at: float
    timeout_s: float

    @classmethod
    def after(cls, timeout_s: float) -> "Deadline":
        return cls(time.monotonic() + timeout_s, timeout_s)

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> RequestTimeout:
        return RequestTimeout(f"the request's text processing ran past its {self.timeout_s:g} s deadline "
                              "(REQUEST_TIMEOUT_S)", code="request_timeout")


class G2PSource(Protocol):
    """What a backend gives ``TextWork``: its version's name and its in-process G2P."""

    @property
    def version(self) -> str: ...

    def g2p(self, lang: str) -> G2P: ...


class TextWork(Protocol):
    """Where text work runs: a G2P and a normalizer bound to a request's deadline (None: unbounded)."""

    def g2p(self, backend: G2PSource, lang: str, deadline: Optional[Deadline]) -> G2P:
        """The G2P of ``backend``'s version for ``lang``, built (and its errors raised) now. Blocks."""
        ...

    def normalizer(self, options: NormalizationOptions, deadline: Optional[Deadline]) -> Normalizer: ...


class InProcessText:
    """Text work in the calling thread (``TEXT_WORKERS=0``): no process, no bound."""

    def g2p(self, backend: G2PSource, lang: str, deadline: Optional[Deadline]) -> G2P:
        return backend.g2p(lang)

    def normalizer(self, options: NormalizationOptions, deadline: Optional[Deadline]) -> Normalizer:
        return partial(normalize_text, options=options)


# The folder that holds the ``api`` package: the worker imports it from there, whatever the server's path.
_ROOT = str(Path(__file__).resolve().parents[4])


class _Worker:
    """One worker process (``text_worker.main``) and the parent's end of its socket pair."""

    def __init__(self) -> None:
        parent, child = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)}
        code = f"from {text_worker.__name__} import main; main({child.fileno()})"
        try:
            self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=[child.fileno()], env=env,
                                            stdin=subprocess.DEVNULL)
        finally:
            child.close()
        self.conn = Connection(parent.detach())

    def call(self, op: str, args: tuple[Any, ...], deadline: Optional[Deadline]) -> tuple[str, Any]:
        """The worker's answer; raises ``deadline.expired()`` (after killing it) when the call outlives
        ``deadline``, EOFError/OSError when the process died."""
        self.conn.send((op, args))
        if deadline is not None and not self.conn.poll(max(0.0, deadline.remaining())):
            self.kill()
            raise deadline.expired()
        answer: tuple[str, Any] = self.conn.recv()
        return answer

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.conn.close()


class TextWorkers:
    """Text work in up to ``size`` worker processes; see the module docstring. Thread-safe.

    Processes start in a background thread (with every G2P built so far), the first when first needed;
    after that, whenever a caller takes the last idle one and there is room, or a deadline killed one, so
    the next caller finds one ready. A caller waits for one within its deadline."""

    def __init__(self, size: int):
        self.size = size
        self._idle: list[_Worker] = []
        self._running = 0                               # started or starting
        self._loaded: set[tuple[str, str]] = set()      # (version, lang) every new process builds first
        self._starting = 0                              # processes starting in the background
        self._failure: Optional[BaseException] = None   # why the last start failed, for the waiters
        self._lock = threading.Condition()

    def _take(self, deadline: Optional[Deadline]) -> _Worker:
        """An idle process, waiting (within ``deadline``) while one starts or another caller's call ends;
        processes start in the background only, so the wait for a start is bounded too."""
        with self._lock:
            while not self._idle:
                self._spare()
                if self._failure is not None and self._starting == 0:
                    failure, self._failure = self._failure, None
                    raise ServiceUnavailable(f"no text worker process could start: {failure}",
                                             code="text_worker_failed") from failure
                if deadline is not None and deadline.remaining() <= 0:
                    raise deadline.expired()
                self._lock.wait(None if deadline is None else deadline.remaining())
            worker = self._idle.pop()
            self._spare()
            return worker

    def _spare(self) -> None:
        """Under the lock: start a process in the background when none is idle and there is room."""
        if not self._idle:
            self._start_one()

    def _start_one(self) -> None:
        """Under the lock: start a process in the background when there is room."""
        if self._running < self.size:
            self._running += 1
            self._starting += 1
            threading.Thread(target=self._start_spare, name="kokoro-text-spare", daemon=True).start()

    def _start_spare(self) -> None:
        try:
            worker = self._started()
        except Exception as exc:
            logger.opt(exception=exc).warning("a text worker process failed to start")
            with self._lock:
                self._starting -= 1
                self._failure = exc
                self._lock.notify_all()
            return
        with self._lock:
            self._starting -= 1
        self._give(worker)

    def _started(self) -> _Worker:
        """A new process (already counted in ``_running``) with the G2Ps built so far; uncounted on failure."""
        worker = None
        began = time.monotonic()
        try:
            worker = _Worker()
            done: set[tuple[str, str]] = set()
            while True:   # until no G2P was asked for meanwhile
                with self._lock:
                    todo = sorted(self._loaded - done)
                if not todo:
                    break
                for key in todo:
                    status, value = worker.call("load", key, None)
                    if status == "error":
                        raise value
                    done.add(key)
        except BaseException:
            if worker is not None:
                worker.kill()
            self._drop(replace=False)
            raise
        logger.info("text worker process {} ready in {:.1f} s", worker.process.pid, time.monotonic() - began)
        return worker

    def _drop(self, replace: bool = True) -> None:
        """A process is gone; ``replace``: start another in the background (the pool keeps its size)."""
        with self._lock:
            self._running -= 1
            self._lock.notify_all()
            if replace:
                self._start_one()

    @property
    def idle(self) -> int:
        """Processes started and waiting for work."""
        with self._lock:
            return len(self._idle)

    def _give(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)
            self._lock.notify_all()

    def call(self, op: str, *args: Any, deadline: Optional[Deadline] = None) -> Any:
        """``text_worker.OPS[op](*args)`` in a worker process, done before ``deadline``; raises what it
        raised, ``RequestTimeout`` past the deadline, ``ServiceUnavailable`` when the process died."""
        worker = self._take(deadline)
        try:
            status, value = worker.call(op, args, deadline)
        except (EOFError, OSError) as exc:
            worker.kill()
            self._drop()
            raise ServiceUnavailable("a text worker process died; try again", code="text_worker_died") from exc
        except BaseException:
            if worker.alive():   # not the deadline's kill: a caller interrupted, keep nothing half-read
                worker.kill()
            self._drop()
            raise
        self._give(worker)
        if status == "error":
            raise value
        return value

    def g2p(self, backend: G2PSource, lang: str, deadline: Optional[Deadline]) -> G2P:
        key = (backend.version, lang)
        with self._lock:
            known = key in self._loaded
            self._loaded.add(key)   # first, so a process starting meanwhile builds it too
        try:
            self.call("load", *key, deadline=deadline)
        except BaseException:
            if not known:
                with self._lock:
                    self._loaded.discard(key)
            raise
        return RemoteG2P(self, backend.version, lang, deadline)

    def normalizer(self, options: NormalizationOptions, deadline: Optional[Deadline]) -> Normalizer:
        return _RemoteNormalizer(self, options, deadline)

    def close(self) -> None:
        """End the idle processes (busy ones end when their call returns to a closed pool)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._running -= len(idle)
        for worker in idle:
            worker.kill()


@dataclass(frozen=True)
class RemoteG2P:
    """A version's G2P for one language, run by ``TextWorkers`` within a request's deadline."""

    workers: TextWorkers
    version: str
    lang: str
    deadline: Optional[Deadline]

    def __call__(self, text: str) -> list[PhonemeToken]:
        tokens: list[PhonemeToken] = self.workers.call("g2p", self.version, self.lang, text, deadline=self.deadline)
        return tokens


@dataclass(frozen=True)
class _RemoteNormalizer:
    workers: TextWorkers
    options: NormalizationOptions
    deadline: Optional[Deadline]

    def __call__(self, text: MappedText) -> MappedText:
        result: MappedText = self.workers.call("normalize", text, self.options, deadline=self.deadline)
        return result


_shared: dict[int, TextWorkers] = {}
_shared_lock = threading.Lock()


def text_work(workers: int) -> TextWork:
    """The process's text work for ``TEXT_WORKERS=workers``: ``InProcessText`` for 0, else one
    ``TextWorkers`` per size, shared by every app in the process (its processes end with it)."""
    if workers <= 0:
        return InProcessText()
    with _shared_lock:
        if workers not in _shared:
            _shared[workers] = TextWorkers(workers)
        return _shared[workers]
