"""Kokoro v0.19 beside v1.0 in one server, chosen per request by `model`."""
import asyncio
import time

import httpx
import pytest

from tests.support.audio import FORMATS, SAMPLE_RATE, check_audio
from tests.support.http_calls import assert_envelope, metric, speech, sse
from tests.support.server import AppServer

TEXT = "Dr. Smith paid $5.50 for 2 tickets at 3:05 in 1984. It was worth it!"


@pytest.fixture(scope="module")
def v0_19_reference(server):
    events, audio = sse(server, model="kokoro-v0_19", input=TEXT, voice="af_bella", response_format="pcm", seed=11)
    return {"seconds": events[-1]["usage"]["output_tokens"] * 600 / SAMPLE_RATE, "pcm": audio,
            "usage": events[-1]["usage"]}


def test_both_versions_listed_and_ready(server):
    models = {m["id"]: m for m in httpx.get(server.url + "/v1/models").json()["data"]}
    assert models["kokoro-v0_19"]["version"] == "v0_19"
    assert models["kokoro-v1_0"]["version"] == models["tts-1"]["version"] == "v1_0"
    assert models["kokoro-v0_19"]["state"] == "ready"        # PRELOAD_VERSIONS=v0_19
    health = httpx.get(server.url + "/health").json()
    assert health["versions"] == {"v1_0": {"state": "ready"}, "v0_19": {"state": "ready"}}


def test_voices_per_version(server):
    v0 = httpx.get(server.url + "/v1/audio/voices", params={"model": "kokoro-v0_19"}).json()["voices"]
    assert [v["id"] for v in v0] == sorted(["af", "af_bella", "af_sarah", "af_nicole", "am_adam", "am_michael",
                                            "bf_emma", "bm_george"])
    v1 = [v["id"] for v in httpx.get(server.url + "/v1/audio/voices").json()["voices"]]
    assert "af_heart" in v1 and "af" not in v1


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("stream", [True, False])
def test_v0_19_every_format(server, v0_19_reference, fmt, stream):
    r = speech(server, model="kokoro-v0_19", input=TEXT, voice="af_bella", response_format=fmt, seed=11,
               stream=stream)
    assert r.status_code == 200, r.text
    assert r.headers["x-model-version"] == "v0_19"
    check_audio(r.content, fmt, v0_19_reference["seconds"])
    if fmt == "pcm":
        assert r.content == v0_19_reference["pcm"]


def test_versions_speak_differently(server, v0_19_reference):
    events, audio = sse(server, model="kokoro-v1_0", input=TEXT, voice="af_bella", response_format="pcm", seed=11)
    assert audio != v0_19_reference["pcm"]
    # espeak (v0.19) and misaki (v1.0) phonemize the same text differently
    assert events[-1]["usage"]["input_tokens"] != v0_19_reference["usage"]["input_tokens"]


def test_concurrent_requests_to_both_versions_get_their_own_audio(server):
    bodies = [{"model": ("kokoro-v0_19", "kokoro")[i % 2], "input": f"{TEXT} Request {i}.",
               "voice": ("af_bella", "bf_emma", "am_adam")[i % 3], "response_format": "pcm", "seed": 500 + i}
              for i in range(8)]
    alone = [speech(server, **b).content for b in bodies]

    async def together():
        async with httpx.AsyncClient(base_url=server.url, timeout=300) as http:
            responses = await asyncio.gather(*(http.post("/v1/audio/speech", json=b) for b in bodies))
            return [r.content for r in responses]

    assert asyncio.run(together()) == alone
    assert alone[0] != alone[1]


def test_voice_of_the_other_version(server):
    error = assert_envelope(speech(server, model="kokoro-v0_19", input="Hi.", voice="af_heart"), 400, "voice")
    assert "v1_0" in error["message"] and "af_nicole" in error["message"]   # names v0.19's voices
    error = assert_envelope(speech(server, model="tts-1", input="Hi.", voice="af_nicole"), 400, "voice")
    assert "v0_19" in error["message"] and "af_heart" in error["message"]
    error = assert_envelope(speech(server, model="kokoro-v0_19", input="Hi.", voice="af_bella+af_heart"), 400,
                            "voice")
    assert "mixed across model versions" in error["message"]
    assert_envelope(speech(server, model="kokoro-v0_19", input="Hi.", voice="nobody"), 400, "voice")


def test_v0_19_language_is_english_only(server):
    ok = speech(server, model="kokoro-v0_19", input="Schedule it.", voice="bf_emma", response_format="pcm", seed=1)
    us = speech(server, model="kokoro-v0_19", input="Schedule it.", voice="bf_emma", response_format="pcm", seed=1,
                lang_code="a")
    assert ok.status_code == us.status_code == 200 and ok.content != us.content   # en-gb vs en-us
    assert_envelope(speech(server, model="kokoro-v0_19", input="Hola.", voice="af", lang_code="e"), 400,
                    "lang_code")


def test_lazy_build_once_and_unload(model_dir):
    proc = AppServer(model_dir, model_free=True, allow_model_unload="true").start()
    try:
        card = httpx.get(proc.url + "/v1/models/kokoro-v0_19").json()
        assert card["state"] == "not_loaded"

        async def first_requests():
            async with httpx.AsyncClient(base_url=proc.url, timeout=300) as http:
                return await asyncio.gather(*(
                    http.post("/v1/audio/speech", json={"model": "kokoro-v0_19", "input": f"Hello {i}.",
                                                        "voice": "af", "response_format": "wav"})
                    for i in range(6)))

        assert all(r.status_code == 200 for r in asyncio.run(first_requests()))
        assert metric(proc, 'kokoro_model_builds_total{version="v0_19"}') == 1
        assert httpx.get(proc.url + "/v1/models/kokoro-v0_19").json()["state"] == "ready"

        # busy: refuse when asked not to wait, wait otherwise
        long_text = " ".join(f"Sentence {i} keeps version zero nineteen busy." for i in range(30))
        with httpx.stream("POST", proc.url + "/v1/audio/speech", timeout=120,
                          json={"model": "kokoro-v0_19", "input": long_text, "voice": "af",
                                "response_format": "pcm"}) as r:
            body = r.iter_raw()
            next(body)
            busy = httpx.post(proc.url + "/v1/models/kokoro-v0_19/unload", params={"wait": "false"})
            assert_envelope(busy, 409)
        began = time.monotonic()
        r = httpx.post(proc.url + "/v1/models/kokoro-v0_19/unload", timeout=60)
        assert r.status_code == 200 and r.json()["state"] == "not_loaded", r.text
        assert time.monotonic() - began < 30

        # v1.0 untouched; v0.19 builds again on its next request
        assert speech(proc, input="Still here.", voice="af_heart").status_code == 200
        assert speech(proc, model="kokoro-v0_19", input="Back again.", voice="af").status_code == 200
        assert metric(proc, 'kokoro_model_builds_total{version="v0_19"}') == 2
    finally:
        proc.stop()


def test_missing_version_answers_503_while_the_other_serves(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, preload_versions="v0_19").start()
    try:
        r = speech(proc, model="kokoro-v0_19", input="Hello.", voice="af")
        error = assert_envelope(r, 503)
        assert r.headers["x-should-retry"] == "false"
        assert "kokoro-v0_19.pth" in error["message"]
        assert speech(proc, model="kokoro", input="Hello.", voice="af_heart").status_code == 200
        health = httpx.get(proc.url + "/health")
        assert health.status_code == 200
        assert health.json()["versions"]["v0_19"]["state"] == "missing_files"
    finally:
        proc.stop()


def test_unload_is_disabled_by_default(server):
    assert_envelope(httpx.post(server.url + "/v1/models/kokoro-v0_19/unload"), 403)
