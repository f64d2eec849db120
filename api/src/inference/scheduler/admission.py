"""Admission: whether a new request may open a stream now, or gets a 429 with a Retry-After.

A request is admitted by the work it would wait for, and within a hard cap on open requests that long
requests cannot fill on their own:

- Work (``wait_too_long``): the scheduler keeps a measured throughput (``ThroughputEstimate``: phonemes
  per second of worker time) and each open request's remaining work (its estimate, then what it really
  submitted, minus what ran). The predicted wait for a newcomer's start (its first
  ``START_HORIZON_TOKENS``) follows the fair policy: first chunks go first, so only the first chunks of
  the requests still waiting for theirs come before its own first chunk (``first_chunk_tokens``); the
  rest of its start takes turns, and each open request delays it by at most the smaller of their two
  works. Past ``max_queue_wait_s`` it is refused (Retry-After: when the others' work has drained that
  far). A short request (its whole text within a first chunk) so waits for first chunks only, however
  many chapters are being read; a chapter is not refused for being long, only for its start's wait.
- Count (``queue_full``): at most ``max_active_streams`` (MAX_ACTIVE_REQUESTS) open requests, every
  resource per request bounded; of them, requests with more than ``START_HORIZON_TOKENS`` still to do
  ("long") hold at most ``long_slots`` (half of them), so long ones queue behind each other while a
  short one still finds a place. Retry-After: when the first request of the kind that would free a
  place should be done, by the same round-robin estimate.

Admitted requests are never dropped for load.
"""
import math
from typing import Protocol, Sequence

from ...core.exceptions import Overloaded
from .stats import SchedulerStats

# Phonemes of a request's "start" for admission: a short first chunk and a full one after it. A request
# with more than this still to do is "long".
START_HORIZON_TOKENS = 400


def long_slots(max_active_streams: int) -> int:
    """Of ``max_active_streams`` places, how many long requests may hold: half (rounded up), the other
    half kept for short ones; a cap under 4 keeps none aside."""
    return max_active_streams if max_active_streams < 4 else max_active_streams - max_active_streams // 2


class ThroughputEstimate:
    """Phonemes per second of worker time, as a ratio of two moving averages (work-weighted, so many
    short chunks do not drag it down more than their share). Starts from a prior worth one batch."""

    def __init__(self, prior_tokens_per_s: float = 100.0, weight: float = 0.2):
        self._tokens = prior_tokens_per_s
        self._seconds = 1.0
        self._weight = weight
        self._measured = 0

    def add(self, tokens: int, seconds: float) -> None:
        if tokens <= 0 or seconds <= 0:
            return
        self._measured += 1
        if self._measured == 1:
            return   # the very first forward pays one-time costs (lazy init, first allocations)
        if self._measured == 2:
            # the prior is a placeholder: a real measurement (the start-up warm-up's) replaces it
            self._tokens, self._seconds = tokens, seconds
            return
        w = self._weight
        self._tokens = (1 - w) * self._tokens + w * tokens
        self._seconds = (1 - w) * self._seconds + w * seconds

    @property
    def tokens_per_s(self) -> float:
        return self._tokens / self._seconds


class OpenRequest(Protocol):
    @property
    def started(self) -> bool: ...          # its first chunk has been taken to run

    def remaining_tokens(self) -> int: ...


class AdmissionPolicy:
    """The two bounds of the module docstring, over the open requests handed to it (the caller holds
    whatever lock keeps them consistent). Counts its refusals in ``stats``."""

    def __init__(self, max_active_streams: int, max_queue_wait_s: float, default_estimate_tokens: int,
                 throughput: ThroughputEstimate, stats: SchedulerStats, first_chunk_tokens: int = 100):
        self.max_active_streams = max_active_streams
        self.long_slots = long_slots(max_active_streams)
        self.max_queue_wait_s = max_queue_wait_s     # 0: no bound by work, only the count cap
        self.default_estimate_tokens = default_estimate_tokens   # a request that brings no estimate
        self.first_chunk_tokens = first_chunk_tokens   # FIRST_CHUNK_MAX_TOKENS: what the fair policy runs first
        self.throughput = throughput
        self.stats = stats

    def turns(self, open_requests: Sequence[OpenRequest], tokens: int, started: bool) -> float:
        """Seconds until a request is done with ``tokens`` of its work (``started``: its first chunk has run).

        Unless started, its first chunk waits only for the first chunks of requests that have not
        started (the fair policy runs first chunks first); the rest takes turns, and each request runs at
        most as much as that rest before it is done, and no more than it has left. With
        ``first_chunk_tokens`` 0 (no first-chunk priority: the fifo policy) everything takes turns.
        """
        first = 0 if started else min(tokens, self.first_chunk_tokens)
        work = sum(min(r.remaining_tokens(), first) for r in open_requests if not r.started)
        if tokens > first:
            work += sum(min(r.remaining_tokens(), tokens - first) for r in open_requests)
        return work / self.throughput.tokens_per_s

    def predicted_wait(self, open_requests: Sequence[OpenRequest], tokens: int) -> float:
        """Seconds the admitted work would delay the first ``tokens`` phonemes of a new request."""
        return self.turns(open_requests, tokens, started=False)

    def next_free(self, open_requests: Sequence[OpenRequest], horizon: int = 0) -> float:
        """Seconds until the first of ``open_requests`` has no more than ``horizon`` phonemes left (0:
        until the first is done), the others taking turns; only requests with more than that count."""
        return min((self.turns(open_requests, r.remaining_tokens() - horizon, r.started)
                    for r in open_requests if r.remaining_tokens() > horizon), default=0.0)

    def backlog_seconds(self, open_requests: Sequence[OpenRequest]) -> float:
        """Estimated seconds of worker time to finish every admitted request."""
        return sum(r.remaining_tokens() for r in open_requests) / self.throughput.tokens_per_s

    def check(self, open_requests: Sequence[OpenRequest], estimated_tokens: int) -> None:
        """Return if a request of ``estimated_tokens`` phonemes (0: unknown) may start now, else raise
        Overloaded (429, Retry-After in whole seconds from the estimate) with code ``queue_full`` or
        ``wait_too_long``."""
        work = estimated_tokens if estimated_tokens > 0 else self.default_estimate_tokens
        if len(open_requests) >= self.max_active_streams:
            # a place frees when the first open request is done
            raise self._refuse("queue_full", f"the server is busy with {len(open_requests)} requests; retry later",
                               self.next_free(open_requests))
        longs = sum(1 for r in open_requests if r.remaining_tokens() > START_HORIZON_TOKENS)
        if work > START_HORIZON_TOKENS and longs >= self.long_slots:
            # a long place frees when the first long request is down to its last stretch
            raise self._refuse(
                "queue_full", f"the server is busy with {longs} long requests (the rest of MAX_ACTIVE_REQUESTS "
                "is kept for short ones); retry later", self.next_free(open_requests, START_HORIZON_TOKENS))
        wait = self.predicted_wait(open_requests, min(work, START_HORIZON_TOKENS))
        if self.max_queue_wait_s > 0 and wait > self.max_queue_wait_s:
            # the others' work drains at about the measured rate
            raise self._refuse(
                "wait_too_long",
                f"the server would make this request wait about {wait:.0f} s (MAX_QUEUE_WAIT_S is "
                f"{self.max_queue_wait_s:g}); retry later", wait - self.max_queue_wait_s)

    def _refuse(self, reason: str, message: str, retry_after: float) -> Overloaded:
        self.stats.rejections[reason] = self.stats.rejections.get(reason, 0) + 1
        return Overloaded(message, retry_after=math.ceil(max(1.0, retry_after)), code=reason)
