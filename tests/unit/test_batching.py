"""The scheduler's batch picks as pure functions: plain queues in, a Pick out, no threads, no scheduler."""
from dataclasses import dataclass, field
from itertools import count

import pytest

from api.src.inference.scheduler.batching import BatchPolicy, Pick, fill_wait, fits, next_batch, padding_fraction

_seq = count()


@dataclass
class Chunk:
    tokens: int
    seq: int = field(default_factory=lambda: next(_seq))
    enqueued_at: float = 0.0


@dataclass(eq=False)
class Queue:
    name: str
    tokens: list
    started: bool = True
    backend: object = "v1"
    pending: list = field(default_factory=list)

    def __post_init__(self):
        self.pending = [Chunk(n) for n in self.tokens]


def names(pick: Pick) -> list[str]:
    return [q.name for q in pick.queues]


def drain(arrival, policy):
    """Apply picks until nothing is left, as ChunkQueue does; the batches by queue name."""
    turns = list(arrival)
    batches = []
    while True:
        pick = next_batch(arrival, turns, policy)
        if not pick.queues:
            return batches
        turns = turns[pick.advance:] + turns[:pick.advance]
        for q in pick.queues:
            q.pending.pop(0)
            q.started = True
        batches.append(names(pick))


def test_fits_checks_size_tokens_and_padding():
    policy = BatchPolicy(max_batch_size=3, max_batch_tokens=300, max_padding=0.2)
    assert fits([100, 100, 100], policy, None)
    assert not fits([100, 100, 100, 10], policy, None)          # a fourth item
    assert not fits([101, 100, 100], policy, None)              # 3 x 101 padded slots > 300
    assert fits([100, 50], policy, None) and not fits([100, 50], policy, 0.2)   # 25 % padding
    assert padding_fraction([100, 50]) == 0.25 and padding_fraction([7]) == 0.0


def test_policy_names_are_checked_and_batch_size_is_at_least_one():
    with pytest.raises(ValueError):
        BatchPolicy(policy="lifo")
    assert BatchPolicy(max_batch_size=0).max_batch_size == 1


def test_first_chunks_go_first_then_turns_round_robin():
    a = Queue("a", [10, 10, 10], started=True)
    b = Queue("b", [10, 10], started=False)
    c = Queue("c", [10], started=False)
    assert drain([a, b, c], BatchPolicy()) == [["b"], ["c"], ["a"], ["b"], ["a"], ["a"]]


def test_a_turn_passes_the_queues_with_nothing_pending():
    a, b, c = Queue("a", []), Queue("b", []), Queue("c", [10])
    pick = next_batch([a, b, c], [a, b, c], BatchPolicy())
    assert names(pick) == ["c"] and pick.advance == 3   # a and b passed, c's turn used
    first = Queue("d", [10], started=False)
    pick = next_batch([a, first], [a, first], BatchPolicy())
    assert names(pick) == ["d"] and pick.advance == 0   # a first chunk uses no turn
    empty = next_batch([a, b], [a, b], BatchPolicy())
    assert empty.queues == [] and empty.advance == 2     # a full circle: the order is unchanged


def test_later_chunks_join_by_padding_first_chunks_whatever_their_length():
    policy = BatchPolicy(max_batch_size=8, max_batch_tokens=10_000, max_padding=0.3)
    running = Queue("run", [200, 200])
    short = Queue("short", [10], started=False)
    long = Queue("long", [150], started=False)
    other = Queue("other", [10], started=False, backend="v0")
    arrival = [running, short, long, other]
    pick = next_batch(arrival, arrival, policy)
    assert names(pick) == ["short", "long"]   # both new requests of that backend, despite the padding
    assert [len(q.pending) for q in arrival] == [2, 1, 1, 1]   # nothing was popped: a pure function


def test_a_queue_gives_several_chunks_in_its_own_order_within_the_limits():
    policy = BatchPolicy(max_batch_size=3, max_batch_tokens=10_000, max_padding=0.2)
    a = Queue("a", [100, 98, 97, 96])
    b = Queue("b", [20])
    assert names(next_batch([a, b], [a, b], policy)) == ["a", "a", "a"]   # b's short chunk pads too much
    tight = BatchPolicy(max_batch_size=8, max_batch_tokens=2 * 102, max_padding=0.3)
    assert names(next_batch([a, b], [a, b], tight)) == ["a", "a"]


def test_fifo_takes_arrival_order_and_stops_at_another_backend():
    policy = BatchPolicy(max_batch_size=4, policy="fifo")
    a, b = Queue("a", []), Queue("b", [], backend="v0")
    a.pending = [Chunk(5, seq=1), Chunk(5, seq=4)]
    b.pending = [Chunk(5, seq=2)]
    c = Queue("c", [])
    c.pending = [Chunk(5, seq=3)]
    assert names(next_batch([a, b, c], [a, b, c], policy)) == ["a"]        # b's chunk is next and is v0
    assert names(next_batch([a, c], [a, c], policy)) == ["a", "c", "a"]    # 1, 3, 4
    serial = BatchPolicy(policy="fifo")
    assert names(next_batch([a, b, c], [c, b, a], serial)) == ["a"]        # turns do not matter


def test_fill_wait_gives_a_batch_until_its_oldest_chunk_has_waited():
    policy = BatchPolicy(max_batch_size=4, wait_s=0.5)
    a, b = Queue("a", [10, 10]), Queue("b", [10])
    a.pending[0].enqueued_at, b.pending[0].enqueued_at = 10.0, 10.2
    assert fill_wait([a, b], policy, now=10.1) == pytest.approx(0.4)
    assert fill_wait([a, b], policy, now=10.6) == 0.0                         # waited long enough
    assert fill_wait([a, b, Queue("c", [10])], policy, now=10.1) == 0.0        # a full batch is ready
    assert fill_wait([Queue("d", [])], policy, now=10.1) == 0.0               # nothing to wait for
    assert fill_wait([a, b], BatchPolicy(max_batch_size=4), now=10.1) == 0.0  # BATCH_WAIT_MS 0
    assert fill_wait([a, b], BatchPolicy(wait_s=0.5), now=10.1) == 0.0       # no batching
