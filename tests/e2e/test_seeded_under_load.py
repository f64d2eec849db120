"""Seeded requests give the same bytes alone and under load: eight at once, beside unseeded speech, the
other model version and G2P-heavy /dev/phonemize calls, over several rounds (the chunk cache off, so
every chunk runs on the model each time)."""
import concurrent.futures as futures

import httpx
import pytest

from tests.conftest import ServerProcess

SEEDED = [{"input": f"Request {i} reads a sentence about the sea. And a second one, with a number: {i * 37}.",
           "voice": ["af_heart", "af_bella", "am_adam", "bf_emma"][i % 4], "seed": 100 + i, "speed": 1 + i % 3 / 4}
          for i in range(8)]


@pytest.fixture(scope="module")
def uncached(model_dir, tmp_path_factory):
    proc = ServerProcess(model_dir, tmp_path_factory.mktemp("logs-load") / "server.log", chunk_cache_mb=0,
                         preload_versions="v0_19", max_inflight_per_worker=64, max_queue_wait_s=600).start()
    yield proc
    proc.stop()


def pcm(server, body) -> bytes:
    r = httpx.post(server.url + "/v1/audio/speech", timeout=300,
                   json={**body, "response_format": "pcm", "stream": False})
    assert r.status_code == 200, r.text
    return r.content


def background(server, i):
    text = " ".join(f"Background sentence {j} with $ {j}.25 and 3:{j % 60:02d}pm." for j in range(20))
    if i % 3 == 0:
        return httpx.post(server.url + "/dev/phonemize", json={"text": text}, timeout=300).status_code
    body = {"input": text[:400], "voice": "af_sky" if i % 3 == 1 else "af_bella"}
    if i % 3 == 2:
        body["model"] = "kokoro-v0_19"
    return httpx.post(server.url + "/v1/audio/speech", json={**body, "response_format": "pcm"},
                      timeout=300).status_code


def test_seeded_requests_are_byte_identical_under_load(uncached):
    solo = [pcm(uncached, body) for body in SEEDED]
    with futures.ThreadPoolExecutor(16) as pool:
        for _ in range(2):
            noise = [pool.submit(background, uncached, i) for i in range(8)]
            loaded = [pool.submit(pcm, uncached, body) for body in SEEDED]
            assert [f.result() for f in loaded] == solo
            assert all(f.result() == 200 for f in noise)
