"""SIGTERM: new requests get 503 while the server drains; in-flight ones finish within SHUTDOWN_GRACE_S,
or are aborted visibly once it is over (never a clean end of a truncated file)."""
import asyncio
import signal
import time

import httpx
import pytest

from tests.support.audio import decode
from tests.support.http_calls import HELD_TEXT, Held, assert_envelope
from tests.support.server import ServerProcess
from tests.support.waiting import eventually


DRAINED_TEXT = " ".join(f"Sentence {i} is spoken while the server drains." for i in range(30))


def draining(proc) -> bool:
    try:
        r = httpx.get(proc.url + "/health", timeout=5)
    except httpx.HTTPError:
        return False
    return r.status_code == 503 and r.json().get("status") == "draining"


@pytest.mark.timeout(300)
def test_sigterm_refuses_new_work_and_lets_the_running_request_finish(v1_model_dir, tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = ServerProcess(v1_model_dir, tmp_path / "server.log", shutdown_grace_s=120, tmpdir=temp).start()
    try:
        with httpx.Client(base_url=proc.url, timeout=120) as http:
            # ~2 min of audio, ~10 s of synthesis: still running when the checks below are made
            held = Held(http, fmt="wav", text=DRAINED_TEXT, speed=1.0)
            # English G2P built: its copy of espeak's library lies in the server's temp folder
            assert list(temp.glob("tmp*/libespeak*"))
            proc.proc.send_signal(signal.SIGTERM)
            # the held request cannot finish while unread, so the drain is still on when we look
            assert eventually(lambda: draining(proc), timeout=5), proc.log()
            r = httpx.post(proc.url + "/v1/audio/speech", json={"input": "Too late.", "voice": "af_heart"}, timeout=10)
            error = assert_envelope(r, 503)
            assert error["code"] == "server_shutting_down" and int(r.headers["retry-after"]) >= 1
            assert httpx.get(proc.url + "/health/live", timeout=5).status_code == 200
            assert proc.proc.poll() is None
            data = held.first + b"".join(held.body)   # the rest, read to its clean end
        audio = decode(data, "wav")
        assert audio.sample_rate == 24_000 and audio.duration > 60   # all of it: ~2 min
        proc.proc.wait(30)   # drained: the server exits on its own, long before the grace is over
        log = proc.log()
        assert "SIGTERM: draining 1 request(s)" in log and "aborting" not in log
        assert not list(temp.glob("tmp*/libespeak*"))      # removed when the process exits
    finally:
        proc.stop()


@pytest.mark.timeout(180)
def test_past_the_grace_running_requests_are_aborted(v1_model_dir, tmp_path):
    proc = ServerProcess(v1_model_dir, tmp_path / "server.log", shutdown_grace_s=0.5).start()
    try:
        async def scenario():
            async with httpx.AsyncClient(base_url=proc.url, timeout=120) as http:
                async def not_streamed():
                    return await http.post("/v1/audio/speech", json={"input": HELD_TEXT, "voice": "am_adam",
                                                                     "stream": False, "speed": 0.25})
                whole = asyncio.create_task(not_streamed())
                async with http.stream("POST", "/v1/audio/speech", json={
                        "input": HELD_TEXT, "voice": "af_heart", "response_format": "pcm", "speed": 0.25}) as r:
                    assert r.status_code == 200
                    body = r.aiter_raw()
                    await body.__anext__()
                    await asyncio.sleep(0.5)   # both requests are in flight
                    proc.proc.send_signal(signal.SIGTERM)
                    began = time.monotonic()
                    with pytest.raises(httpx.RemoteProtocolError):   # the chunked body never ends cleanly
                        async for _ in body:
                            pass
                    aborted_after = time.monotonic() - began
                return await whole, aborted_after

        whole, aborted_after = asyncio.run(scenario())
        assert assert_envelope(whole, 503)["code"] == "server_shutting_down"   # nothing sent yet: an error body
        assert aborted_after < 15
        proc.proc.wait(30)
        assert "aborting 2 request(s)" in proc.log()
    finally:
        proc.stop()
