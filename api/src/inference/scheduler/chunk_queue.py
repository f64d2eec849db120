"""Every open stream's queued chunks under one lock, shared by the event loop and the worker thread.

``ChunkQueue`` keeps one ``Lane`` per open stream, in arrival order and in round-robin order: the
queue's own record of the stream (its queued chunks, whether one has run, the phonemes queued and
done), written by the queue only and only under its lock. It takes chunks in (``enqueue``, dropped when
the stream is closed or the queue is not running), hands the worker its next batch as
``batching.next_batch`` picks it among the lanes (``next_batch`` blocks until there is one, giving it
up to BATCH_WAIT_MS to fill, and returns None once stopped), and remembers the batch in flight so that
a worker that dies with it can fail its requests (``take_in_flight``). ``lock`` is a
``threading.Condition``; callers that read several lanes consistently (admission) hold it.
The queue knows streams; a stream knows the queue only as the ``ChunkSink`` it feeds.
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


class Lane:
    """The queue's record of one open stream; every field changes under the queue's lock only.

    A ``batching.Queue`` (``pending``, ``started``, ``backend``) and an ``admission.OpenRequest``
    (``remaining_tokens``).
    """

    def __init__(self, stream: SynthesisStream, estimated_tokens: int, default_estimate_tokens: int):
        self.stream = stream
        self.estimated_tokens = estimated_tokens   # admission's guess of the whole request's phonemes
        self.default_estimate_tokens = default_estimate_tokens   # one more chunk, without an estimate
        self.pending: deque[ChunkJob] = deque()   # queued, head first
        self.started = False                       # a chunk of it has been taken to run
        self.submitted_tokens = 0                  # phonemes of every chunk queued
        self.done_tokens = 0                       # phonemes of the chunks that ran (or failed)

    @property
    def backend(self):
        return self.stream.backend

    def remaining_tokens(self) -> int:
        """Phonemes still to synthesize: the estimate until input ends, then what was really submitted.

        Without an estimate, a request whose input has not ended counts one more default-sized chunk.
        """
        if self.stream.input_ended:
            total = self.submitted_tokens
        elif self.estimated_tokens > 0:
            total = max(self.estimated_tokens, self.submitted_tokens)
        else:
            total = self.submitted_tokens + self.default_estimate_tokens
        return max(0, total - self.done_tokens)


class ChunkQueue:
    """The open streams and their queued chunks; see the module docstring."""

    def __init__(self, policy: BatchPolicy, stats: SchedulerStats):
        self.policy = policy
        self.stats = stats
        self.lock = threading.Condition()
        self.running = False                  # accepts chunks and serves the worker
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._lanes: OrderedDict[int, Lane] = OrderedDict()   # by stream id, arrival order
        self._turns: deque[int] = deque()                       # round-robin order
        self._in_flight: list[ChunkJob] = []   # what the worker is running now

    def new_id(self) -> int:
        return next(self._ids)

    def streams(self) -> list[SynthesisStream]:
        """The open streams, oldest first (a snapshot)."""
        with self.lock:
            return [lane.stream for lane in self._lanes.values()]

    def lanes(self) -> list[Lane]:
        """The open streams' lanes, oldest first (a snapshot; hold ``lock`` to read them consistently)."""
        with self.lock:
            return list(self._lanes.values())

    def add(self, stream: SynthesisStream, estimated_tokens: int = 0, default_estimate_tokens: int = 100) -> None:
        """A stream opens; ``estimated_tokens`` (0: unknown) is its whole request's phonemes as guessed."""
        with self.lock:
            self._lanes[stream.id] = Lane(stream, estimated_tokens, default_estimate_tokens)
            self._turns.append(stream.id)
            self.stats.active_streams = len(self._lanes)

    def remove(self, stream: SynthesisStream) -> None:
        """The stream leaves: its queued chunks are dropped."""
        with self.lock:
            lane = self._lanes.pop(stream.id, None)
            if lane is not None:
                dropped = len(lane.pending)
                lane.pending.clear()
                self.stats.queued_chunks -= dropped
                self.stats.chunks_dropped += dropped
            try:
                self._turns.remove(stream.id)
            except ValueError:
                pass
            self.stats.active_streams = len(self._lanes)
            self._count_running()

    def enqueue(self, job: ChunkJob) -> None:
        with self.lock:
            lane = self._lanes.get(job.stream.id)
            if lane is None or job.stream.closed or not self.running:
                return
            job.seq = next(self._seq)
            job.enqueued_at = time.monotonic()
            lane.pending.append(job)
            lane.submitted_tokens += job.tokens
            self.stats.queued_chunks += 1
            self.lock.notify()

    def start(self) -> None:
        with self.lock:
            self.running = True

    def stop(self) -> None:
        """Stop serving: queued chunks are dropped and a waiting worker wakes up to end."""
        with self.lock:
            self.running = False
            for lane in self._lanes.values():
                lane.pending.clear()
            self.lock.notify_all()

    def take(self) -> list[ChunkJob]:
        """Under the lock: pop the next batch now (maybe empty) and mark its lanes started."""
        pick = batching.next_batch(list(self._lanes.values()), [self._lanes[i] for i in self._turns], self.policy)
        self._turns.rotate(-pick.advance)
        jobs = []
        for lane in pick.queues:
            jobs.append(lane.pending.popleft())
            lane.started = True
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
            wait = batching.fill_wait(self._lanes.values(), self.policy, time.monotonic())
            if wait <= 0:
                return
            self.lock.wait(wait)

    def mark_done(self, jobs: list[ChunkJob]) -> None:
        """The jobs ran (or failed): their work no longer counts as remaining."""
        with self.lock:
            for job in jobs:
                lane = self._lanes.get(job.stream.id)
                if lane is not None:
                    lane.done_tokens += job.tokens

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
        self.stats.running_streams = sum(1 for lane in self._lanes.values() if lane.started)
