"""routers/audio_response: one way to answer with audio, and its cleanup however the response ends."""
import asyncio
import json
import tracemalloc

import numpy as np
import pytest

from api.src.core.exceptions import InvalidRequest
from api.src.routers.audio_response import audio_headers, audio_response


class FakeJob:
    seed = 5

    class backend:
        version = "v1_0"

    def __init__(self):
        self.closed = 0

    def close(self):
        self.closed += 1


def tracked_body(items, fail=None):
    state = {"finally": 0}

    async def body():
        try:
            for item in items:
                yield item
            if fail:
                raise fail
        finally:
            state["finally"] += 1

    return body(), state


def test_a_client_leaving_mid_stream_closes_job_and_body_at_once():
    job, ended = FakeJob(), []
    body, state = tracked_body([b"a", b"b", b"c"])

    async def run():
        response = await audio_response(job, body, media_type="audio/pcm", headers=audio_headers(job, "pcm"),
                                         stream=True, on_end=ended.append)
        chunks = response.body_iterator
        assert await chunks.__anext__() == b"a"
        await chunks.aclose()      # what Starlette does when the client is gone
        return response

    response = asyncio.run(run())
    assert response.headers["x-seed"] == "5" and response.headers["x-model-version"] == "v1_0"
    assert job.closed == 1 and state["finally"] == 1 and ended == ["disconnected"]


def test_a_whole_response_gathers_closes_and_reports_ok():
    job, ended = FakeJob(), []
    body, state = tracked_body([b"ab", b"cd"])
    response = asyncio.run(audio_response(job, body, media_type="audio/pcm", headers={}, stream=False,
                                          on_end=ended.append))
    assert response.body == b"abcd" and job.closed == 1 and state["finally"] == 1 and ended == ["ok"]


def test_a_whole_response_that_fails_is_an_error_envelope():
    job, ended = FakeJob(), []
    body, state = tracked_body([b"ab"], fail=InvalidRequest("bad voice", param="voice", code="voice_not_found"))
    response = asyncio.run(audio_response(job, body, media_type="audio/pcm", headers={}, stream=False,
                                          on_end=ended.append))
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["code"] == "voice_not_found"
    assert job.closed == 1 and state["finally"] == 1 and ended == ["error 400"]


def test_a_streamed_failure_propagates_so_the_connection_aborts():
    job, ended = FakeJob(), []
    body, _ = tracked_body([b"ab"], fail=RuntimeError("boom"))

    async def run():
        response = await audio_response(job, body, media_type="audio/pcm", headers={}, stream=True,
                                         on_end=ended.append)
        return [chunk async for chunk in response.body_iterator]

    with pytest.raises(RuntimeError):
        asyncio.run(run())
    assert job.closed == 1 and ended == ["failed: RuntimeError"]


def test_a_client_that_stops_reading_then_leaves_still_closes_everything():
    """The send blocks (the client reads nothing), then the connection drops: the body waits at a yield
    that nobody resumes, so only the response itself can close it."""
    job, ended = FakeJob(), []
    body, state = tracked_body([b"a"] * 100)

    async def run():
        response = await audio_response(job, body, media_type="audio/pcm", headers={}, stream=True,
                                         on_end=ended.append)
        first = asyncio.Event()
        blocked = asyncio.Event()

        async def send(message):
            if message["type"] == "http.response.body" and message.get("body"):
                first.set()
                await blocked.wait()          # a reader that never reads

        async def receive():
            await first.wait()
            return {"type": "http.disconnect"}   # ... and then hangs up

        scope = {"type": "http", "asgi": {"spec_version": "2.3"}}   # as uvicorn sends it
        await asyncio.wait_for(response(scope, receive, send), 10)
        return state["finally"], job.closed, list(ended)

    finally_runs, closed, statuses = asyncio.run(run())
    assert (finally_runs, closed, statuses) == (1, 1, ["disconnected"])


class _SilentJob(FakeJob):
    """A job of ``count`` pieces of ``seconds`` of silence each (what pause tags produce)."""

    def __init__(self, count: int, seconds: float):
        super().__init__()
        self.count, self.samples = count, int(seconds * 24000)

    async def pieces(self):
        from api.src.services.speech import AudioPiece
        for _ in range(self.count):
            yield AudioPiece(np.zeros(self.samples, dtype=np.int16), [])


def test_a_whole_response_holds_encoded_bytes_not_the_requests_pcm():
    """``stream: false`` for 300 s of silence as mp3: the peak is about the response twice (its pieces and
    their join) plus one piece of PCM, far below the request's PCM (14.4 MB as s16)."""
    from api.src.services.audio.streaming import encoded_audio

    job = _SilentJob(30, 10.0)

    async def run():
        response = await audio_response(job, encoded_audio(job, "mp3"), media_type="audio/mpeg", headers={},
                                        stream=False)
        return response.body

    tracemalloc.start()
    try:
        body = asyncio.run(run())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    pcm_bytes = 30 * 10 * 24000 * 2
    assert len(body) < pcm_bytes / 4
    assert peak < 2 * len(body) + 2_000_000, (peak, len(body))
