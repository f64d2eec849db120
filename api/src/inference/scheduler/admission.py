"""Admission: whether a new request may open a stream now, or gets a 429 with a Retry-After.

Two bounds: a hard cap on open requests (``queue_full``; MAX_ACTIVE_REQUESTS, the server's one cap on
requests served at once), and a bound on estimated work (``wait_too_long``). The scheduler keeps a
measured throughput (``ThroughputEstimate``: phonemes per second of worker time) and each open
request's remaining work (its estimate, then what it really submitted, minus what ran). Under
round-robin each admitted request delays a new one by at most the smaller of their two works, so the
predicted wait of a request of W phonemes is
``sum(min(remaining_i, W)) / throughput``; past ``max_queue_wait_s`` it is refused at once (Retry-After
from the estimate). Only a request's start counts (its first ``START_HORIZON_TOKENS``): a chapter is not
refused for being long, it takes its turns. Admitted requests are never dropped for load.
"""
import math
from typing import Protocol, Sequence

from ...core.exceptions import Overloaded
from .stats import SchedulerStats

# Phonemes of a request's "start" for admission: a short first chunk and a full one after it.
START_HORIZON_TOKENS = 400


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
    def remaining_tokens(self) -> int: ...


class AdmissionPolicy:
    """The two bounds of the module docstring, over the open requests handed to it (the caller holds
    whatever lock keeps them consistent). Counts its refusals in ``stats``."""

    def __init__(self, max_active_streams: int, max_queue_wait_s: float, default_estimate_tokens: int,
                 throughput: ThroughputEstimate, stats: SchedulerStats):
        self.max_active_streams = max_active_streams
        self.max_queue_wait_s = max_queue_wait_s     # 0: no bound by work, only the count cap
        self.default_estimate_tokens = default_estimate_tokens   # a request that brings no estimate
        self.throughput = throughput
        self.stats = stats

    def predicted_wait(self, open_requests: Sequence[OpenRequest], tokens: int) -> float:
        """Seconds the admitted work would delay a new request of ``tokens`` phonemes.

        Round-robin shares the worker: before the newcomer is done, each other request runs at most
        as much as the newcomer itself, and no more than it has left.
        """
        work = sum(min(r.remaining_tokens(), tokens) for r in open_requests)
        return work / self.throughput.tokens_per_s

    def backlog_seconds(self, open_requests: Sequence[OpenRequest]) -> float:
        """Estimated seconds of worker time to finish every admitted request."""
        return sum(r.remaining_tokens() for r in open_requests) / self.throughput.tokens_per_s

    def check(self, open_requests: Sequence[OpenRequest], estimated_tokens: int) -> None:
        """Return if a request of ``estimated_tokens`` phonemes (0: unknown) may start now, else raise
        Overloaded (429, Retry-After in whole seconds from the estimate) with code ``queue_full`` or
        ``wait_too_long``."""
        rate = self.throughput.tokens_per_s
        if len(open_requests) >= self.max_active_streams:
            # under round-robin the smallest request ends after about n turns of its size
            smallest = min((r.remaining_tokens() for r in open_requests), default=0)
            raise self._refuse("queue_full", f"the server is busy with {len(open_requests)} requests; retry later",
                               smallest * len(open_requests) / rate)
        work = estimated_tokens if estimated_tokens > 0 else self.default_estimate_tokens
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
