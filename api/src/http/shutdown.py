"""Graceful shutdown on SIGTERM: stop admitting, drain for SHUTDOWN_GRACE_S, abort the rest, then exit.

How it sits on uvicorn: uvicorn installs its own SIGTERM handler, and on the signal it closes the
listening socket at once and then waits for open connections (forever, unless
``--timeout-graceful-shutdown``). A closed listener means connection refused, which tells neither a
client nor a load balancer to come back. So the app wraps uvicorn's handler (``install``, from the
lifespan, on the main thread) and runs the drain first, with the listener still open:

1. ``Admission.draining`` is set: new requests get 503 + Retry-After in the OpenAI envelope and
   ``/health`` answers 503, so the balancer takes this instance out; ``/health/live`` stays 200.
2. Requests in flight get up to ``grace_s`` to finish.
3. What is left is aborted: every open synthesis stream is closed with a 503 error, which the request
   reports as the design says (an error body, an SSE ``error`` event, or a dropped connection for
   chunked audio); requests still running ``abort_wait_s`` later are cancelled.
4. Uvicorn stops: it closes the listener, finds no open work, runs the lifespan shutdown. It is told
   to stop through its ``should_exit`` flag rather than its signal handler, which would re-raise the
   SIGTERM once the server is down and so kill the process before ``atexit`` cleanup runs (phonemizer's
   copies of espeak's library in the temp folder, the metrics folder): the process exits normally.

A second SIGTERM during the drain skips to step 3. SIGINT (Ctrl-C) is uvicorn's, untouched. The
orchestrator's kill timeout (``docker stop -t``, ``stop_grace_period``, Kubernetes'
``terminationGracePeriodSeconds``) must exceed ``SHUTDOWN_GRACE_S`` by a few seconds.
"""
import asyncio
import contextvars
import signal
import threading
from types import FrameType
from typing import Any, Callable, Optional

from loguru import logger

from ..core.exceptions import ServiceUnavailable
from .admission import Admission

SignalHandler = Callable[[int, Optional[FrameType]], Any]


class GracefulShutdown:
    """Owns the drain; see the module docstring. ``close_streams`` aborts the inference work."""

    def __init__(self, admission: Admission, close_streams: Callable[[BaseException], int], grace_s: float,
                 abort_wait_s: float = 2.0):
        self.admission = admission
        self.close_streams = close_streams
        self.grace_s = grace_s
        self.abort_wait_s = abort_wait_s
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._previous: Optional[SignalHandler] = None
        self._task: Optional[asyncio.Task[None]] = None
        self._abort_now = asyncio.Event()

    def install(self) -> bool:
        """Wrap the current SIGTERM handler; False (nothing done) off the main thread or without one."""
        if threading.current_thread() is not threading.main_thread():
            return False   # e.g. a test client running the app in a thread: no signals to take
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return False   # SIG_DFL / SIG_IGN: not under a server that shuts down gracefully
        self._loop = asyncio.get_running_loop()
        self._previous = previous
        signal.signal(signal.SIGTERM, self._on_signal)
        return True

    def _on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        # A signal handler runs between bytecodes on the main thread: only schedule work here.
        # A fresh context: the handler interrupts whatever runs, often a request (its log context).
        assert self._loop is not None   # install() set it before it set this handler
        self._loop.call_soon_threadsafe(self._begin, signum, frame, context=contextvars.Context())

    def _begin(self, signum: int, frame: Optional[FrameType]) -> None:
        assert self._loop is not None
        if self._task is None:
            self._task = self._loop.create_task(self.drain(lambda: self._stop_server(signum, frame)))
        else:
            self._abort_now.set()

    def _stop_server(self, signum: int, frame: Optional[FrameType]) -> None:
        """Step 4: set uvicorn's ``should_exit`` when the wrapped handler is a uvicorn ``Server``'s."""
        server = getattr(self._previous, "__self__", None)
        if server is not None and hasattr(server, "should_exit"):
            server.should_exit = True
        else:
            assert self._previous is not None   # install() wrapped a callable handler
            self._previous(signum, frame)

    async def drain(self, then: Callable[[], None]) -> None:
        """Steps 1-3 of the module docstring, then ``then()`` (uvicorn's handler)."""
        adm = self.admission
        adm.draining = True
        logger.info("SIGTERM: draining {} request(s) for up to {:g} s (SHUTDOWN_GRACE_S)", adm.inflight, self.grace_s)
        try:
            await asyncio.wait_for(self._until_idle(), self.grace_s)
        except TimeoutError:
            pass
        if adm.inflight:
            closed = self.close_streams(ServiceUnavailable(
                f"the server shut down before this request finished (SHUTDOWN_GRACE_S={self.grace_s:g})",
                code="server_shutting_down", retry_after=adm.retry_after_s))
            logger.warning("shutdown: aborting {} request(s) still running ({} synthesis streams)", adm.inflight,
                           closed)
            try:
                await asyncio.wait_for(self._until_idle(ignore_abort=True), self.abort_wait_s)
            except TimeoutError:
                for task in list(adm.tasks):
                    task.cancel()
        logger.info("shutdown: drained; stopping the server")
        then()

    async def _until_idle(self, ignore_abort: bool = False) -> None:
        while self.admission.inflight and (ignore_abort or not self._abort_now.is_set()):
            await asyncio.sleep(0.05)
