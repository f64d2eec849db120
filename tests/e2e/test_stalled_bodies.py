"""Clients that send headers and then stall their body hold no admission slot, and are cut off (408)."""
import time

import httpx
import pytest

from tests.support.http_calls import read_answer, stalled_socket
from tests.support.server import AppServer


@pytest.fixture(scope="module")
def guarded(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, max_active_requests=4, body_read_timeout_s=3).start()
    yield proc
    proc.stop()


def test_twenty_stalled_bodies_do_not_deny_service(guarded):
    sockets = [stalled_socket(guarded) for _ in range(20)]
    try:
        time.sleep(0.5)   # all twenty are in the server now
        began = time.monotonic()
        r = httpx.post(guarded.url + "/v1/audio/speech", timeout=30,
                       json={"input": "Served at once.", "voice": "af_heart", "response_format": "pcm"})
        assert r.status_code == 200, r.text
        assert time.monotonic() - began < 2.5   # well before the stalled ones time out
    finally:
        for sock in sockets:
            sock.close()


def test_a_stalled_body_gets_408_after_the_timeout(guarded):
    sock = stalled_socket(guarded)
    try:
        began = time.monotonic()
        answer = read_answer(sock)
        elapsed = time.monotonic() - began
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"body_timeout"' in answer and b"BODY_READ_TIMEOUT_S" in answer
        assert 2 < elapsed < 15
    finally:
        sock.close()
