"""GET /metrics: the scheduler's batching, backpressure and output families in Prometheus format."""
import re

import httpx

from tests.support.http_calls import metric

FAMILIES = ("kokoro_queued_chunks", "kokoro_running_requests", "kokoro_batch_size", "kokoro_batch_padding_fraction",
            "kokoro_time_to_first_audio_seconds", "kokoro_real_time_factor", "kokoro_audio_seconds",
            "kokoro_rejections", "kokoro_model_build_seconds", "kokoro_throughput_tokens_per_second",
            "kokoro_estimated_backlog_seconds")


def test_metrics_expose_the_scheduling_families(server):
    before = metric(server, "kokoro_audio_seconds_total")
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                   json={"input": "Counting the audio we make.", "voice": "af_heart", "response_format": "pcm"})
    assert r.status_code == 200
    text = httpx.get(server.url + "/metrics", timeout=10).text
    for family in FAMILIES:
        assert re.search(rf"^# TYPE {family}(_total)? ", text, re.M), f"{family} missing"
    # the request's audio is counted, to the 25 ms frame
    produced = metric(server, "kokoro_audio_seconds_total") - before
    assert abs(produced - len(r.content) / 2 / 24_000) < 0.05
    assert metric(server, "kokoro_batch_size_count") >= 1
    assert metric(server, "kokoro_time_to_first_audio_seconds_count") >= 1
    assert metric(server, 'kokoro_rejections_total{reason="wait_too_long"}') >= 0
    assert metric(server, 'kokoro_rejections_total{reason="queue_full"}') >= 0
    # one family per fact: the queue's depth and the 429s are each exported once
    for gone in ("kokoro_queue_depth", "kokoro_requests_rejected"):
        assert not re.search(rf"^# TYPE {gone}(_total)? ", text, re.M), f"{gone} duplicates another family"
    assert metric(server, "kokoro_real_time_factor") > 0
    assert re.search(r'^kokoro_model_build_seconds\{version="v1_0"\} [0-9.e+-]+$', text, re.M)
