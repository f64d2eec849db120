"""Many clients at once each get exactly their own audio; a client that leaves frees the queue."""
import asyncio
import subprocess
import time

import httpx
import pytest

from tests.support.http_calls import TEXTS, VOICES, metric
from tests.support.server import AppServer, ServerProcess
from tests.support.waiting import eventually


def bodies():
    return [{"input": TEXTS[i % len(TEXTS)] * (1 + i % 3), "voice": VOICES[i % len(VOICES)],
             "response_format": "pcm", "seed": 1000 + i} for i in range(16)]


@pytest.fixture(scope="module")
def uncached(v1_model_dir):
    """A server without the chunk cache: the same requests again must run the model again."""
    proc = AppServer(v1_model_dir, chunk_cache_mb=0, max_active_requests=64).start()
    yield proc
    proc.stop()


def test_sixteen_concurrent_clients_get_their_own_audio(uncached):
    server = uncached
    alone = [httpx.post(server.url + "/v1/audio/speech", json=b, timeout=120).content for b in bodies()]
    done_alone = metric(server, 'kokoro_chunks_total{outcome="done"}')

    async def together():
        async with httpx.AsyncClient(base_url=server.url, timeout=300) as http:
            async def one(body):
                async with http.stream("POST", "/v1/audio/speech", json=body) as r:
                    assert r.status_code == 200
                    return b"".join([chunk async for chunk in r.aiter_bytes()])
            return await asyncio.gather(*(one(b) for b in bodies()))

    concurrent = asyncio.run(together())
    # every chunk ran again, under load: nothing was served from a cache
    assert metric(server, 'kokoro_chunks_total{outcome="done"}') >= 2 * done_alone - 4
    for i, (a, c) in enumerate(zip(alone, concurrent)):
        assert len(a) > 0
        assert a == c, f"client {i} got different audio under load"


def test_disconnect_mid_stream_frees_the_queue(uncached):
    server = uncached   # chunks that take time (a network): the client leaves while work is queued
    dropped_before = metric(server, 'kokoro_chunks_total{outcome="dropped"}')
    text = " ".join(f"This is sentence {i} of a very long text that nobody will hear." for i in range(60))
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json={"input": text, "voice": "af_heart", "response_format": "pcm"}) as r:
        assert r.status_code == 200
        body = r.iter_raw()         # keep the iterator: dropping it closes the connection
        next(body)                  # the first audio arrived: the request is running
        assert metric(server, "kokoro_active_requests") == 1
        assert metric(server, 'kokoro_chunks_total{outcome="dropped"}') == dropped_before
    eventually(lambda: metric(server, "kokoro_active_requests") == 0 and metric(server, "kokoro_queued_chunks") == 0,
               timeout=20)
    assert metric(server, "kokoro_active_requests") == 0
    assert metric(server, "kokoro_queued_chunks") == 0
    assert metric(server, 'kokoro_chunks_total{outcome="dropped"}') > dropped_before
    # compute stopped: no forward pass runs for the departed request any more
    done = metric(server, 'kokoro_chunks_total{outcome="done"}')
    time.sleep(1.5)
    assert metric(server, 'kokoro_chunks_total{outcome="done"}') == done
    # the server still serves
    assert httpx.post(server.url + "/v1/audio/speech", json={"input": "Still here.", "voice": "af_heart"},
                      timeout=60).status_code == 200


def test_queue_full_answers_429_with_retry_after(model_dir):
    proc = AppServer(model_dir, max_active_requests=1).start()
    try:
        long_text = " ".join(f"Sentence {i} keeps the only slot busy for a while." for i in range(40))
        with httpx.stream("POST", proc.url + "/v1/audio/speech", timeout=120,
                          json={"input": long_text, "voice": "af_heart", "response_format": "pcm"}) as r:
            body = r.iter_raw()
            next(body)
            second = httpx.post(proc.url + "/v1/audio/speech", json={"input": "Me too.", "voice": "af_heart"},
                                timeout=30)
        assert second.status_code == 429
        assert int(second.headers["retry-after"]) >= 1
        error = second.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "rate_limit_error"
    finally:
        proc.stop()


def test_missing_model_exits_with_one_clear_message(tmp_path):
    proc = ServerProcess(tmp_path / "empty", tmp_path / "server.log").start(wait=False)
    try:
        code = proc.proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.stop()
        pytest.fail("server kept running without model files")
    finally:
        proc.stop()
    log = proc.log()
    assert code != 0
    assert "kokoro-v1_0.pth" in log and "config.json" in log
    assert "download" in log and "DOWNLOAD_MODEL" in log
    assert "Traceback" not in log


def test_a_short_request_overtakes_a_book_length_one(server):
    book = " ".join(f"Paragraph {i} goes on about the sea, the wind and the long night watch." for i in range(50))
    finished = {}

    def read_book():
        with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=300,
                          json={"input": book, "voice": "af_heart", "response_format": "pcm"}) as r:
            assert r.status_code == 200
            for _ in r.iter_raw():
                started.set()
        finished["book"] = time.monotonic()

    import threading
    started = threading.Event()
    reader = threading.Thread(target=read_book)
    reader.start()
    assert started.wait(60), "the book never started"
    r = httpx.post(server.url + "/v1/audio/speech", json={"input": "A short reply.", "voice": "af_bella",
                                                          "response_format": "pcm", "stream": False}, timeout=120)
    finished["short"] = time.monotonic()
    assert r.status_code == 200 and len(r.content) > 0
    reader.join(300)
    assert finished["short"] < finished["book"], "the short request waited for the whole book"
