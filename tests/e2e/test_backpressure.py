"""Backpressure by estimated work: with MAX_QUEUE_WAIT_S tiny, requests that arrive while a long one
runs are refused at once (429, Retry-After, OpenAI envelope); the accepted one completes. The latecomers
are longer than a first chunk: a first chunk alone runs before the long one's turns (the fair policy),
so only the rest of their start waits behind it."""
import asyncio
import io

import av
import httpx
import numpy as np

from tests.support.http_calls import assert_envelope, metric
from tests.support.server import AppServer

LONG_TEXT = " ".join(f"Sentence {i} of a long paragraph keeps the worker busy for a while." for i in range(12))


def decode_wav(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
    return np.concatenate(frames, axis=-1)


def test_predicted_wait_over_the_bound_is_refused_and_accepted_work_finishes(v1_model_dir):
    proc = AppServer(v1_model_dir, max_queue_wait_s=0.01).start()
    try:
        async def scenario():
            async with httpx.AsyncClient(base_url=proc.url, timeout=180) as http:
                async with http.stream("POST", "/v1/audio/speech",
                                       json={"input": LONG_TEXT, "voice": "af_heart", "response_format": "wav"}) as long:
                    assert long.status_code == 200
                    body = long.aiter_raw()
                    first = await body.__anext__()          # admitted and running
                    others = await asyncio.gather(*[
                        http.post("/v1/audio/speech", json={"input": f"Latecomer {i} with several words in it. " * 6,
                                                            "voice": "am_adam", "response_format": "wav"})
                        for i in range(3)])
                    rest = b"".join([chunk async for chunk in body])
                return first + rest, others

        audio, others = asyncio.run(scenario())
        for r in others:
            error = assert_envelope(r, 429, words=["MAX_QUEUE_WAIT_S"])
            assert error["type"] == "rate_limit_error" and error["code"] == "wait_too_long"
            assert int(r.headers["retry-after"]) >= 1
        samples = decode_wav(audio)
        assert samples.shape[-1] > 24_000 * 5 and np.abs(samples).max() > 0   # the whole long answer
        assert metric(proc, 'kokoro_rejections_total{reason="wait_too_long"}') == 3
        # once the long one is done, the server takes work again
        ok = httpx.post(proc.url + "/v1/audio/speech", timeout=60,
                        json={"input": "Now there is room.", "voice": "am_adam", "response_format": "wav"})
        assert ok.status_code == 200 and decode_wav(ok.content).shape[-1] > 0
    finally:
        proc.stop()
