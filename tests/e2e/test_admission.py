"""MAX_ACTIVE_REQUESTS, the one cap: past it a speech request gets 429 + Retry-After in the OpenAI envelope;
the old MAX_INFLIGHT_PER_WORKER still sets it, with a start-up warning naming the new name."""
import httpx

from tests.conftest import ServerProcess
from tests.e2e.test_concurrency import metric
from tests.e2e.test_errors import assert_envelope
from tests.e2e.test_failures import wait_for

# Far more audio than the socket buffers hold: a request that is not read stays in flight.
HELD_TEXT = " ".join(f"Sentence {i} waits for a reader who is busy elsewhere." for i in range(150))


class Held:
    """A streamed speech request that took its first bytes and is kept open, unread."""

    def __init__(self, http: httpx.Client, voice: str = "af_heart", fmt: str = "pcm", text: str = HELD_TEXT,
                 speed: float = 0.25):
        self._cm = http.stream("POST", "/v1/audio/speech",
                               json={"input": text, "voice": voice, "response_format": fmt, "speed": speed})
        self.response = self._cm.__enter__()
        assert self.response.status_code == 200
        self.body = self.response.iter_raw()   # kept: dropping the iterator would close the connection
        self.first = next(self.body)

    def close(self):
        self._cm.__exit__(None, None, None)


def test_over_the_cap_is_a_429_envelope_and_probes_still_answer(v1_model_dir, tmp_path):
    # the old variable: it still works, and the log says what to set instead (no bound by estimated work:
    # only the cap may refuse here)
    proc = ServerProcess(v1_model_dir, tmp_path / "server.log", max_inflight_per_worker=2,
                         max_queue_wait_s=0).start()
    held = []
    assert "MAX_INFLIGHT_PER_WORKER is deprecated: set MAX_ACTIVE_REQUESTS" in proc.log()
    try:
        with httpx.Client(base_url=proc.url, timeout=60) as a, httpx.Client(base_url=proc.url, timeout=60) as b:
            held = [Held(a, "af_heart"), Held(b, "am_adam")]
            assert metric(proc, "kokoro_inflight_requests") == metric(proc, "kokoro_active_requests") == 2
            r = httpx.post(proc.url + "/v1/audio/speech", json={"input": "One more.", "voice": "af_heart"}, timeout=30)
            error = assert_envelope(r, 429, words=["busy with 2 requests"])
            assert error["type"] == "rate_limit_error" and error["code"] == "queue_full"
            assert int(r.headers["retry-after"]) >= 1
            assert r.headers["x-request-id"]
            # not work: listings, probes and metrics are neither counted nor refused
            assert httpx.get(proc.url + "/v1/models", timeout=10).status_code == 200
            assert httpx.get(proc.url + "/health", timeout=10).status_code == 200
            assert httpx.get(proc.url + "/health/live", timeout=10).status_code == 200
            assert metric(proc, 'kokoro_rejections_total{reason="queue_full"}') == 1
            for h in held:
                h.close()
            held = []
        # the clients left: their slots come back and work is admitted again
        assert wait_for(lambda: metric(proc, "kokoro_inflight_requests") == 0, timeout=30)
        ok = httpx.post(proc.url + "/v1/audio/speech", json={"input": "Now there is room.", "voice": "af_heart",
                                                              "response_format": "pcm"}, timeout=60)
        assert ok.status_code == 200 and len(ok.content) > 0
    finally:
        for h in held:
            h.close()
        proc.stop()
