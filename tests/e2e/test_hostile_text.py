"""A 200 KB hostile input never stops the server (issue 22, item 1).

Runs of ``[`` (misaki's link pattern) and ``_`` (spaCy's tokenizer) once cost minutes of G2P that held the
GIL: ``/health`` froze and every other request waited. Now the inputs are defused before G2P, and text
work runs in worker processes bounded by REQUEST_TIMEOUT_S. While each hostile request runs, ``/health``
answers in under 100 ms and a short request gets audio; the hostile one ends with audio or a clear 4xx/504
within its deadline.
"""
import threading
import time

import httpx
import pytest

from tests.support.server import ServerProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

TIMEOUT_S = 10.0
SIZE = 200_000
# A representative subset; bench/adversarial_input.py --server covers every kind.
HOSTILE = {"brackets": "[" * SIZE, "image_brackets": "![" * (SIZE // 2), "underscores": "_" * SIZE}


@pytest.fixture(scope="module")
def server(v1_model_dir, tmp_path_factory):
    # a process of its own: the probes time the server, not this process's threads beside it
    proc = ServerProcess(v1_model_dir, tmp_path_factory.mktemp("hostile") / "server.log",
                         request_timeout_s=TIMEOUT_S, chunk_cache_mb=0, text_workers=2).start()
    proc.kills = 0   # text processes a deadline killed so far (each is replaced in the background)
    yield proc
    proc.stop()


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_input_leaves_health_and_other_requests_alone(server, kind):
    outcome = {}
    # both text processes up (the spare starts in the background; a deadline's kill is replaced the same way)
    if "text worker process" in server.log():   # (a server without text workers has nothing to wait for)
        assert eventually(lambda: server.log().count("text worker process") >= 2 + server.kills, timeout=180)

    def hostile():
        began = time.monotonic()
        r = httpx.post(server.url + "/v1/audio/speech", timeout=60,
                       json={"input": HOSTILE[kind], "voice": "af_heart", "response_format": "pcm", "stream": False})
        outcome.update(status=r.status_code, body=r.content, seconds=time.monotonic() - began)

    worker = threading.Thread(target=hostile, daemon=True)
    health = []
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.get("/health")                  # a warm connection: the probe times the server, not the connect
        worker.start()
        time.sleep(0.3)                      # let the hostile request reach its text work
        short_began = time.monotonic()
        with http.stream("POST", "/v1/audio/speech",
                         json={"input": "Hello there.", "voice": "af_heart", "response_format": "pcm"}) as r:
            assert r.status_code == 200, r.read()
            short_audio = b"".join(r.iter_bytes())
        short_s = time.monotonic() - short_began
        while True:   # at least once: a hostile input refused at once has ended before the probes begin
            began = time.perf_counter()
            assert http.get("/health").status_code == 200
            health.append(time.perf_counter() - began)
            if not worker.is_alive():
                break
            time.sleep(0.02)
    worker.join()
    server.kills += outcome["status"] == 504
    print(f"{kind}: hostile {outcome['status']} in {outcome['seconds']:.1f} s; short request {short_s:.2f} s; "
          f"/health max {max(health, default=0) * 1000:.0f} ms over {len(health)} probes")
    assert len(short_audio) > 0
    assert outcome["status"] in (200, 400, 504), outcome["body"][:300]
    assert outcome["seconds"] < TIMEOUT_S + 3
    if outcome["status"] == 200:
        assert len(outcome["body"]) > 0
    # /health within 100 ms, but for a rare scheduling spike of this 2-core machine (112 ms once in a full
    # suite run); a frozen server takes seconds
    ordered = sorted(health)
    assert ordered[int(0.99 * (len(ordered) - 1))] < 0.1, f"/health p99 {ordered[int(0.99 * (len(ordered) - 1))]:.3f} s"
    assert ordered[-1] < 0.5, f"/health took {ordered[-1]:.3f} s"
