"""Admission a short request gets through: 12 clients asking for long texts and 4 asking for a short
one, at once, with the default MAX_ACTIVE_REQUESTS. The long requests must not take every place: each
short client gets audio (its 429s, if any, say when to come back). The bound by work is set far off so
that the count is what binds on a slow CPU too; small chunks keep the test short."""
import asyncio

import pytest

from tests.support.mixed_load import run_mixed
from tests.support.server import AppServer

LONG = " ".join(f"Sentence {i} of a long chapter keeps this request busy." for i in range(40))


@pytest.mark.timeout(300)
def test_short_requests_get_audio_among_long_ones(v1_model_dir):
    proc = AppServer(v1_model_dir, chunk_cache_mb=0, max_queue_wait_s=3600, first_chunk_max_tokens=20,
                     first_chunk_min_tokens=0, target_min_tokens=10, target_max_tokens=20,
                     absolute_max_tokens=30).start()
    try:
        assert proc.settings.max_active_requests == 10   # the default
        result = asyncio.run(run_mixed(proc.url, duration_s=30, long_clients=12, short_clients=4, longs_first=5,
                                       long_text=LONG, start_timeout_s=120))
    finally:
        proc.stop()
    print(f"short requests answered {[len(c) for c in result.shorts]}, refused {result.short_refusals} "
          f"(Retry-After {sorted(set(result.retry_after))}), first audio p50 {result.percentile(50):.2f} s "
          f"p95 {result.percentile(95):.2f} s; long admitted {result.long_admitted}, refused {result.long_refusals}")
    assert all(result.shorts), f"a short client got no audio: {[len(c) for c in result.shorts]}"
