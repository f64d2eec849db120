"""Every open stream's queued chunks under one lock, shared by the event loop and the worker thread.

``ChunkQueue`` keeps the open streams in arrival order and in round-robin order, takes chunks in
(``enqueue``, dropped when the stream is closed or the queue is not running), hands the worker its
next batch as ``batching.next_batch`` picks it (``next_batch`` blocks until there is one, giving it
up to BATCH_WAIT_MS to fill, and returns None once stopped), and remembers the batch in flight so
that a worker that dies with it can fail its requests (``take_in_flight``). ``lock`` is a
``threading.Condition``; callers that read several streams consistently (admission) hold it.
"""
import itertools
import threading
import time
from collections import OrderedDict, deque
from typing import Optional

from . import batching
from .batching import BatchPolicy
from .stats import SchedulerStats
from .stream import ChunkJob, SynthesisStream


class ChunkQueue:
    """The open streams and their queued chunks; see the module docstring."""

    def __init__(self, policy: BatchPolicy, stats: SchedulerStats):
        self.policy = policy
        self.stats = stats
        self.lock = threading.Condition()
        self.running = False                  # accepts chunks and serves the worker
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._streams: OrderedDict[int, SynthesisStream] = OrderedDict()   # arrival order
        self._turns: deque[int] = deque()                                  # round-robin order
        self._in_flight: list[ChunkJob] = []   # what the worker is running now

    def new_id(self) -> int:
        return next(self._ids)

    def streams(self) -> list[SynthesisStream]:
        """The open streams, oldest first (a snapshot)."""
        with self.lock:
            return list(self._streams.values())

    def add(self, stream: SynthesisStream) -> None:
        with self.lock:
            self._streams[stream.id] = stream
            self._turns.append(stream.id)
            self.stats.active_streams = len(self._streams)

    def remove(self, stream: SynthesisStream) -> None:
        """The stream leaves: its queued chunks are dropped."""
        with self.lock:
            dropped = len(stream.pending)
            stream.pending.clear()
            self.stats.queued_chunks -= dropped
            self.stats.chunks_dropped += dropped
            self._streams.pop(stream.id, None)
            try:
                self._turns.remove(stream.id)
            except ValueError:
                pass
            self.stats.active_streams = len(self._streams)
            self._count_running()

    def enqueue(self, job: ChunkJob) -> None:
        with self.lock:
            if job.stream.closed or not self.running:
                return
            job.seq = next(self._seq)
            job.enqueued_at = time.monotonic()
            job.stream.pending.append(job)
            job.stream.submitted_tokens += job.tokens
            self.stats.queued_chunks += 1
            self.lock.notify()

    def start(self) -> None:
        with self.lock:
            self.running = True

    def stop(self) -> None:
        """Stop serving: queued chunks are dropped and a waiting worker wakes up to end."""
        with self.lock:
            self.running = False
            for stream in self._streams.values():
                stream.pending.clear()
            self.lock.notify_all()

    def take(self) -> list[ChunkJob]:
        """Under the lock: pop the next batch now (maybe empty) and mark its streams started."""
        pick = batching.next_batch(list(self._streams.values()), [self._streams[i] for i in self._turns],
                                   self.policy)
        self._turns.rotate(-pick.advance)
        jobs = [stream.pending.popleft() for stream in pick.queues]
        for job in jobs:
            job.stream.started = True
        self.stats.queued_chunks -= len(jobs)
        if jobs:
            self._count_running()
        return jobs

    def next_batch(self) -> Optional[list[ChunkJob]]:
        """The worker's next batch, waiting for one; None once the queue is stopped."""
        with self.lock:
            self._wait_to_fill()
            jobs = self.take()
            while not jobs and self.running:
                self.lock.wait()
                self._wait_to_fill()
                jobs = self.take()
            if not self.running:
                return None
            self._in_flight = jobs
            return jobs

    def _wait_to_fill(self) -> None:
        while self.running:
            wait = batching.fill_wait(self._streams.values(), self.policy, time.monotonic())
            if wait <= 0:
                return
            self.lock.wait(wait)

    def mark_done(self, jobs: list[ChunkJob]) -> None:
        """The jobs ran (or failed): their work no longer counts as remaining."""
        with self.lock:
            for job in jobs:
                job.stream.done_tokens += job.tokens

    def release(self) -> None:
        """The batch in flight is delivered."""
        with self.lock:
            self._in_flight = []

    def take_in_flight(self) -> list[ChunkJob]:
        """The batch that was running (its worker died), now no longer in flight."""
        with self.lock:
            lost, self._in_flight = self._in_flight, []
        return lost

    def _count_running(self) -> None:
        self.stats.running_streams = sum(1 for s in self._streams.values() if s.started)
