"""Which queued chunks form the next batch, and in what order: pure functions, no locks, no threads.

The caller (``ChunkQueue``, under its lock) hands over its streams' lanes as read-only ``Queue`` views,
in arrival order and in round-robin order, and gets back a ``Pick``: the queues whose head chunk to pop,
in batch order (a queue may appear several times, its chunks then go in its own order), and how far
to advance the round-robin order. Nothing passed in is modified.

Policy ``fair``: the first chunk of a request that has no audio yet goes first (oldest request
first), otherwise requests take turns round-robin, so a book-length request cannot starve a short
one. With batching (``max_batch_size`` > 1) the lead's head chunk is joined by chunks of the same
backend, at most ``max_batch_tokens`` padded phonemes in all: first chunks of new requests always
(never left out for length reasons), later chunks in turn order while the padding stays under
``max_padding``. Policy ``fifo`` is the serial baseline other Kokoro servers use: chunks in arrival
order, a batch ending at the first chunk of another backend or one that does not fit.

``fill_wait`` says how long to give a batch to fill up: up to ``wait_s`` from its oldest chunk.
"""
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol, Sequence

# Each chunk runs as [BOS, *ids, EOS]: what a batch pads is the ids plus these two.
_BOUNDARY_TOKENS = 2


class Chunk(Protocol):
    """A queued chunk, as batching reads it (``stream.ChunkJob``)."""

    @property
    def tokens(self) -> int: ...         # phoneme ids, BOS/EOS excluded

    @property
    def seq(self) -> int: ...            # arrival order across all queues

    @property
    def enqueued_at(self) -> float: ...  # time.monotonic() when it was queued


class Queue(Protocol):
    """One open request's queue, read-only (``chunk_queue.Lane``)."""

    @property
    def started(self) -> bool: ...              # a chunk of this request has run

    @property
    def backend(self) -> object: ...            # chunks batch only with chunks of the same backend (by identity)

    @property
    def pending(self) -> Sequence[Chunk]: ...   # queued chunks, head first


@dataclass(frozen=True)
class BatchPolicy:
    """The batching settings: MAX_BATCH_SIZE (resolved), MAX_BATCH_TOKENS, the padding bound for
    later chunks, SCHEDULING_POLICY and BATCH_WAIT_MS (in seconds)."""

    max_batch_size: int = 1
    max_batch_tokens: int = 4096
    max_padding: float = 0.3
    policy: str = "fair"
    wait_s: float = 0.0

    def __post_init__(self):
        if self.policy not in ("fair", "fifo"):
            raise ValueError(f"unknown scheduling policy {self.policy!r}")
        object.__setattr__(self, "max_batch_size", max(1, self.max_batch_size))


@dataclass(frozen=True)
class Pick:
    """The next batch: pop the head of each queue in ``queues``, in order; then rotate the round-robin
    order left by ``advance`` places. An empty ``queues`` means nothing is ready."""

    queues: list
    advance: int = 0


def padded_length(tokens: int) -> int:
    """A chunk's length in a batch: its ids with BOS and EOS."""
    return tokens + _BOUNDARY_TOKENS


def padding_fraction(lengths: Sequence[int]) -> float:
    """Share of padded slots when items of these (padded) lengths run as one batch."""
    return 1 - sum(lengths) / (len(lengths) * max(lengths))


def fits(lengths: Sequence[int], policy: BatchPolicy, padding_limit: Optional[float]) -> bool:
    """Within the batch size, the padded-token budget and (when given) the padding limit."""
    if len(lengths) > policy.max_batch_size:
        return False
    if len(lengths) * max(lengths) > policy.max_batch_tokens:
        return False
    return padding_limit is None or padding_fraction(lengths) <= padding_limit


class _Cursor:
    """How many chunks of each queue the batch has taken so far (queues by identity)."""

    def __init__(self):
        self._taken: dict[int, int] = {}

    def head(self, queue: Queue) -> Optional[Chunk]:
        k = self._taken.get(id(queue), 0)
        return queue.pending[k] if k < len(queue.pending) else None

    def take(self, queue: Queue) -> None:
        self._taken[id(queue)] = self._taken.get(id(queue), 0) + 1


def next_batch(arrival: Sequence[Queue], turns: Sequence[Queue], policy: BatchPolicy) -> Pick:
    """The next batch under ``policy`` (see the module docstring). ``arrival``: the open queues in
    arrival order; ``turns``: the same queues in round-robin order."""
    if policy.policy == "fifo":
        return Pick(_take_fifo(arrival, policy))
    lead, advance = _lead(arrival, turns)
    if lead is None:
        return Pick([], advance)
    if policy.max_batch_size == 1:
        return Pick([lead], advance)
    rotated = list(turns[advance:]) + list(turns[:advance])
    return Pick(_gather(lead, arrival, rotated, policy), advance)


def _lead(arrival: Sequence[Queue], turns: Sequence[Queue]) -> tuple[Optional[Queue], int]:
    """The queue that runs next, and how many turns that uses: the oldest request with no audio yet
    (no turn used), else the next queue in turn with chunks (the turns pass it)."""
    for queue in arrival:
        if not queue.started and queue.pending:
            return queue, 0
    for position, queue in enumerate(turns):
        if queue.pending:
            return queue, position + 1
    return None, len(turns)


def _gather(lead: Queue, arrival: Sequence[Queue], turns: Sequence[Queue], policy: BatchPolicy) -> list:
    """The lead's head chunk plus what may join it: same backend, first chunks unconditionally
    (grouping must not hold them back), later chunks in turn order while the padding stays low.
    A queue's chunks are only ever taken from its head, so its order holds."""
    cursor = _Cursor()
    batch = [lead]
    lengths = [padded_length(lead.pending[0].tokens)]   # the lead has chunks; nothing is taken yet
    cursor.take(lead)
    for queue in arrival:
        if queue is lead or queue.started or queue.backend is not lead.backend or not queue.pending:
            continue
        n = padded_length(queue.pending[0].tokens)
        if fits(lengths + [n], policy, None):
            batch.append(queue)
            lengths.append(n)
            cursor.take(queue)
    added = True
    while added and len(batch) < policy.max_batch_size:
        added = False
        for queue in turns:
            head = cursor.head(queue)
            if head is None or queue.backend is not lead.backend:
                continue
            n = padded_length(head.tokens)
            if fits(lengths + [n], policy, policy.max_padding):
                batch.append(queue)
                lengths.append(n)
                cursor.take(queue)
                added = True
    return batch


def _take_fifo(arrival: Sequence[Queue], policy: BatchPolicy) -> list:
    """Arrival order across all queues (the serial baseline at batch 1)."""
    cursor = _Cursor()
    batch: list = []
    lengths: list[int] = []
    while len(batch) < policy.max_batch_size:
        heads = [(head, queue) for queue in arrival if (head := cursor.head(queue)) is not None]
        if not heads:
            break
        head, queue = min(heads, key=lambda pair: pair[0].seq)
        n = padded_length(head.tokens)
        if batch and (queue.backend is not batch[0].backend or not fits(lengths + [n], policy, None)):
            break
        batch.append(queue)
        lengths.append(n)
        cursor.take(queue)
    return batch


def fill_wait(queues: Iterable[Queue], policy: BatchPolicy, now: float) -> float:
    """Seconds to wait for more chunks before taking a batch; 0 means take it now (batching off,
    nothing queued, a full batch ready, or the oldest head chunk has waited ``wait_s``)."""
    if policy.max_batch_size <= 1 or policy.wait_s <= 0:
        return 0.0
    queues = [q for q in queues if q.pending]
    if not queues:
        return 0.0
    if sum(len(q.pending) for q in queues) >= policy.max_batch_size:
        return 0.0
    remaining = min(q.pending[0].enqueued_at for q in queues) + policy.wait_s - now
    return max(0.0, remaining)
