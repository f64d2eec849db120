"""MAX_ACTIVE_REQUESTS, the one cap: past it a speech request gets 429 + Retry-After in the OpenAI envelope;
the old MAX_INFLIGHT_PER_WORKER still sets it, with a start-up warning naming the new name."""
import httpx

from tests.support.http_calls import Held, assert_envelope, metric
from tests.support.server import AppServer
from tests.support.waiting import eventually


def test_over_the_cap_is_a_429_envelope_and_probes_still_answer(v1_model_dir):
    # the old variable still sets the cap (its start-up warning: tests/unit/test_app_lifecycle.py); no bound
    # by estimated work: only the cap may refuse here
    proc = AppServer(v1_model_dir, max_inflight_per_worker=2, max_queue_wait_s=0).start()
    held = []
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
        assert eventually(lambda: metric(proc, "kokoro_inflight_requests") == 0, timeout=30)
        ok = httpx.post(proc.url + "/v1/audio/speech", json={"input": "Now there is room.", "voice": "af_heart",
                                                              "response_format": "pcm"}, timeout=60)
        assert ok.status_code == 200 and len(ok.content) > 0
    finally:
        for h in held:
            h.close()
        proc.stop()
