"""The Ray gateway's error mapping and retries, against a stand-in for the replicas' handle (no cluster)."""
import asyncio
import json

import pytest

pytest.importorskip("ray.serve", reason="ray[serve] is not installed (pip install -e '.[ray]')")

from ray.exceptions import ActorDiedError  # noqa: E402
from ray.serve.exceptions import BackPressureError  # noqa: E402

from deploy.ray.gateway import MAX_ATTEMPTS, GatewayApp  # noqa: E402

OK = [{"type": "http.response.start", "status": 200, "headers": [(b"x-replica", b"r2")]},
      {"type": "http.response.body", "body": b"audio", "more_body": True},
      {"type": "http.response.body", "body": b"", "more_body": False}]
WAIT = "wait"


class FakeStream:
    """What ``handle.options(stream=True).handle_http.remote()`` returns: an async iterator of messages."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.cancelled = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        if not self.outcome:
            raise StopAsyncIteration
        item = self.outcome.pop(0)
        if item == WAIT:  # a replica that is slow to produce its next message
            await asyncio.sleep(3600)
        if isinstance(item, Exception):
            raise item
        return item

    def cancel(self):
        self.cancelled = True


class FakeHandle:
    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def options(self, **_):
        return self

    @property
    def handle_http(self):
        return self

    def remote(self, request):
        self.calls += 1
        self.last = FakeStream(self.outcomes.pop(0))
        return self.last


def call(handle, client_leaves: bool = False) -> tuple[list[dict], BaseException]:
    sent, body = [], [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive():
        if body:
            return body.pop(0)
        if client_leaves:
            await asyncio.sleep(0.05)
            return {"type": "http.disconnect"}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/audio/speech", "headers": []}
    try:
        asyncio.run(GatewayApp(handle, retry_after_s=2)(scope, receive, send))
    except Exception as exc:  # noqa: BLE001 - the caller checks which
        return sent, exc
    return sent, None


def error_of(sent):
    headers = dict(sent[0]["headers"])
    return sent[0]["status"], headers.get(b"retry-after"), json.loads(sent[1]["body"])["error"]


def test_backpressure_becomes_429_with_retry_after_in_the_openai_envelope():
    sent, failure = call(FakeHandle(BackPressureError(num_queued_requests=4, max_queued_requests=4,
                                                      status_code=429, retry_after_s=2.5)))
    status, retry_after, error = error_of(sent)
    assert failure is None and (status, retry_after) == (429, b"3")
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("rate_limit_error", "queue_full")


def test_a_replica_that_died_before_answering_is_replaced_by_another():
    handle = FakeHandle(ActorDiedError(), list(OK))
    sent, failure = call(handle)
    assert failure is None and handle.calls == 2
    assert sent == OK


def test_no_replica_left_is_a_503_with_retry_after():
    handle = FakeHandle(*[ActorDiedError() for _ in range(MAX_ATTEMPTS)])
    sent, failure = call(handle)
    status, retry_after, error = error_of(sent)
    assert failure is None and handle.calls == MAX_ATTEMPTS
    assert (status, retry_after, error["code"]) == (503, b"2", "replica_unavailable")


def test_a_replica_failing_mid_answer_aborts_the_response():
    sent, failure = call(FakeHandle([*OK[:2], ActorDiedError()]))
    assert isinstance(failure, ActorDiedError)
    assert sent == OK[:2]  # the start and the audio so far, and no clean end of the body


def test_a_client_that_leaves_while_queued_cancels_its_request():
    handle = FakeHandle([WAIT])
    sent, failure = call(handle, client_leaves=True)
    assert failure is None and sent == [] and handle.last.cancelled


def test_a_client_that_leaves_mid_answer_cancels_the_replicas_work():
    handle = FakeHandle([*OK[:2], WAIT])  # the replica is still producing when the client leaves
    sent, failure = call(handle, client_leaves=True)
    assert failure is None and sent == OK[:2] and handle.last.cancelled
