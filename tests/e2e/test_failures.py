"""Failure isolation: a failing chunk, a dying worker, a reader that stops, a request past its deadline."""
import asyncio
import json
import socket

import httpx
import pytest

from tests.support.http_calls import assert_envelope, metric
from tests.support.server import AppServer
from tests.support.waiting import eventually

OTHERS = [{"input": f"Bystander number {i} speaks calmly. It has two sentences.", "voice": v,
           "response_format": "pcm", "seed": 70 + i} for i, v in enumerate(("af_heart", "am_adam", "bf_emma"))]


@pytest.fixture(scope="module")
def faulty(v1_model_dir):
    proc = AppServer(v1_model_dir, fault_injection="true", slow_reader_timeout_s=2).start()
    yield proc
    proc.stop()


def test_a_failing_chunk_fails_only_its_own_request(faulty):
    alone = [httpx.post(faulty.url + "/v1/audio/speech", json=b, timeout=60).content for b in OTHERS]
    bad_text = "This first sentence is fine and long enough to be its own chunk. [[fault:chunk]] Then it breaks."

    async def together():
        async with httpx.AsyncClient(base_url=faulty.url, timeout=120) as http:
            async def streamed_bad():
                try:
                    async with http.stream("POST", "/v1/audio/speech",
                                           json={"input": bad_text, "voice": "af_sky", "response_format": "pcm"}) as r:
                        assert r.status_code == 200
                        async for _ in r.aiter_raw():
                            pass
                except httpx.HTTPError as exc:   # the connection is aborted, never cleanly ended
                    return exc
                return None

            async def good(body):
                return (await http.post("/v1/audio/speech", json=body)).content

            return await asyncio.gather(streamed_bad(), *(good(b) for b in OTHERS),
                                        http.post("/v1/audio/speech", json={"input": bad_text, "voice": "af_sky",
                                                                            "stream": False}))

    aborted, *others, not_streamed = asyncio.run(together())
    assert isinstance(aborted, httpx.HTTPError), "a failed stream must not end like a finished file"
    assert others == alone
    assert_envelope(not_streamed, 500)

    with httpx.stream("POST", faulty.url + "/v1/audio/speech", timeout=60,
                      json={"input": bad_text, "voice": "af_sky", "stream_format": "sse"}) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert events[0]["type"] == "speech.audio.delta"
    assert events[-1]["type"] == "error" and set(events[-1]["error"]) == {"message", "type", "param", "code"}
    assert metric(faulty, 'kokoro_chunks_total{outcome="failed"}') >= 3


def test_a_dead_worker_is_restarted(faulty):
    before = metric(faulty, "kokoro_worker_restarts_total")
    r = httpx.post(faulty.url + "/v1/audio/speech", timeout=60,
                   json={"input": "[[fault:worker]] This kills the worker.", "voice": "af_heart", "stream": False})
    assert_envelope(r, 500)
    assert eventually(lambda: metric(faulty, "kokoro_worker_restarts_total") == before + 1)
    health = httpx.get(faulty.url + "/health").json()
    assert health["inference_worker_alive"] and health["inference_worker_restarts"] >= 1
    ok = httpx.post(faulty.url + "/v1/audio/speech", json=OTHERS[0], timeout=60)
    assert ok.status_code == 200 and len(ok.content) > 0


@pytest.mark.timeout(240)
def test_a_client_that_stops_reading_is_cut_off(faulty):
    """A raw socket with a tiny receive buffer that never reads: the server's buffers fill, then it gives up."""
    text = " ".join(f"Sentence {i} is read by nobody, so the buffers fill up and stay full." for i in range(150))
    body = json.dumps({"input": text, "voice": "af_heart", "response_format": "pcm", "speed": 0.25}).encode()
    host, port = faulty.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    try:
        sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        assert eventually(lambda: metric(faulty, "kokoro_active_requests") == 1, timeout=30)
        # filling the server's socket buffer (~4 MB of audio) takes a few seconds of synthesis
        assert eventually(lambda: metric(faulty, "kokoro_active_requests") == 0, timeout=150)
        # cut by the bound on one send, or by the scheduler's cut of unread audio (whichever comes first)
        assert metric(faulty, "kokoro_clients_cut_total") + metric(faulty, "kokoro_slow_readers_cut_total") >= 1
        assert metric(faulty, "kokoro_queued_chunks") == 0
    finally:
        sock.close()


def test_request_deadline(v1_model_dir):
    proc = AppServer(v1_model_dir, request_timeout_s=1).start()
    try:
        text = " ".join(f"Sentence {i} takes the request well past its one second deadline." for i in range(60))
        r = httpx.post(proc.url + "/v1/audio/speech", json={"input": text, "voice": "af_heart", "stream": False},
                       timeout=120)
        assert assert_envelope(r, 504)["code"] == "request_timeout"
        assert eventually(lambda: metric(proc, "kokoro_active_requests") == 0)
    finally:
        proc.stop()
