"""Work requests at the door: their body deadline, the count of those in flight, the clients that leave
or stop reading, and the shutdown drain.

The cap on requests served at once is the scheduler's admission (MAX_ACTIVE_REQUESTS), the one place
that decides a 429; this only counts, so that the drain knows when the worker is idle."""
import asyncio
import json

from loguru import logger

from .asgi import WORK_PREFIXES, read_body, replay, send_error
from .client_watch import serve_watched
from .cuts import CutNote, ResponseCut


class Admission:
    """Counts the work requests this process is serving, and whether it is draining.

    Shared by ``AdmissionMiddleware`` (which counts) and the shutdown drain (which waits for
    ``inflight`` to reach 0, then aborts what is left through ``tasks``). Event-loop use only.
    """

    def __init__(self, retry_after_s: int = 1):
        self.retry_after_s = retry_after_s
        self.inflight = 0
        self.draining = False
        self.refused_draining = 0   # 503: shutting down
        self.body_timeouts = 0      # 408: the body did not arrive in time
        self.clients_gone = 0       # work cancelled: the client disconnected before its answer was complete
        self.clients_cut = 0        # work cancelled: the client took no part of its answer for SLOW_READER_TIMEOUT_S
        self.tasks: set = set()     # the tasks serving admitted requests


class AdmissionMiddleware:
    """Counts the work requests in flight and refuses all while draining (503).

    Work requests are POSTs under ``work_prefixes`` (speech and its relatives, with or without /v1). Their
    body is read whole first, within ``body_timeout_s`` (else 408), and only then are they counted and
    passed on (where the scheduler's admission may refuse them with 429): a client that sends headers and
    then stalls holds nothing. Everything else passes uncounted. While draining (SIGTERM), any request but
    the probes gets 503 + Retry-After, and readiness (``/health``) answers 503 "draining" so that a load
    balancer stops sending; liveness stays as it is. Every refusal is an OpenAI envelope.

    A counted request is served watched (``client_watch``): if its client disconnects before the answer is
    complete, or takes no part of it for ``send_timeout_s`` (SLOW_READER_TIMEOUT_S), its work is cancelled
    at once (job closed, place in admission freed) and, for the second, the connection closed.
    """

    def __init__(self, app, admission: Admission, work_prefixes: tuple[str, ...] = WORK_PREFIXES,
                 probe_prefixes: tuple[str, ...] = ("/health", "/metrics"), body_timeout_s: float = 15.0,
                 send_timeout_s: float = 60.0):
        self.app = app
        self.admission = admission
        self.body_timeout_s = body_timeout_s
        self.send_timeout_s = send_timeout_s
        self.work_prefixes = work_prefixes
        self.probe_prefixes = probe_prefixes

    def _is_probe(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.probe_prefixes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        adm, path = self.admission, scope["path"]
        retry = [(b"retry-after", str(adm.retry_after_s).encode())]
        if adm.draining:
            if path == "/health":
                draining = json.dumps({"status": "draining", "reason": "the server is shutting down"}).encode()
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json"), *retry]})
                return await send({"type": "http.response.body", "body": draining})
            if not self._is_probe(path) and scope["method"] != "OPTIONS":
                adm.refused_draining += 1
                return await send_error(send, 503, "the server is shutting down; retry on another instance",
                                        "server_shutting_down", retry)
        if scope["method"] != "POST" or not any(path.startswith(p) for p in self.work_prefixes):
            return await self.app(scope, receive, send)
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body = await read_body(receive)
        except TimeoutError:
            adm.body_timeouts += 1
            return await send_error(send, 408, f"the request body did not arrive within {self.body_timeout_s:g} s "
                                    "(BODY_READ_TIMEOUT_S)", "body_timeout", [(b"connection", b"close")])
        if body is None:   # the client left (or the body limit refused it) before its body was complete
            return
        task = asyncio.current_task()
        assert task is not None   # an ASGI call always runs in a task
        adm.inflight += 1
        adm.tasks.add(task)
        started = False

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            outcome = await serve_watched(self.app, scope, replay(body, receive), receive, tracking_send,
                                          self.send_timeout_s)
            if outcome == "gone":
                adm.clients_gone += 1
            elif outcome == "cut":
                adm.clients_cut += 1
                note = CutNote.of(scope)
                if note is None or not note.told:   # a whole answer: its line was logged before the send
                    logger.warning("the client took no audio for {:g} s (SLOW_READER_TIMEOUT_S): its request is "
                                   "cancelled and the connection closed", self.send_timeout_s)
                raise ResponseCut("slow reader")   # the connection dropped; uvicorn logs nothing of it
        except asyncio.CancelledError:
            # Only the drain's abort cancels us on purpose: answer 503 if nothing was sent yet;
            # otherwise propagate, so the server drops the connection (never a clean truncated file).
            if not adm.draining or started:
                raise
            task.uncancel()
            await send_error(send, 503, "the server shut down before this request finished", "server_shutting_down",
                             retry)
        finally:
            adm.inflight -= 1
            adm.tasks.discard(task)
