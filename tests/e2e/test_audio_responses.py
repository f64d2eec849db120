"""Every audio endpoint answers the same way: seed and version headers streamed or whole, and its job
and body generator closed when the client leaves mid-stream. Also: the app factory serves."""

import httpx
import pytest

from tests.support.http_calls import metric
from tests.support.server import AppServer, ServerProcess
from tests.support.waiting import eventually


def long_text(tag: str) -> str:
    """Sentences no other test speaks (the chunk cache would serve them without a forward pass)."""
    return " ".join(f"This is {tag} sentence {i} of a long text that the client will not wait for."
                    for i in range(40))
# v1.0 phonemes (misaki symbols, all in the v1.0 vocab)
PHONEMES = "həlˈO wˈɜɹld. ðɪs ɪz ə tˈɛst."


def _bodies(text: str, phoneme_repeats: int = 1) -> dict[str, tuple[str, dict]]:
    return {
        "speech": ("/v1/audio/speech", {"input": text, "voice": "af_heart", "response_format": "pcm"}),
        "phonemes": ("/dev/generate_from_phonemes",
                     {"phonemes": " ".join([PHONEMES] * phoneme_repeats), "voice": "af_heart",
                      "response_format": "pcm"}),
        "captioned": ("/dev/captioned_speech", {"input": text, "voice": "af_heart", "response_format": "pcm"}),
    }


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("endpoint", ["speech", "phonemes", "captioned"])
def test_every_audio_endpoint_carries_seed_and_version_headers(server, endpoint, stream):
    path, body = _bodies("Headers for everyone.")[endpoint]
    r = httpx.post(server.url + path, json={**body, "stream": stream, "seed": 3}, timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["x-seed"] == "3"
    assert r.headers["x-model-version"] == "v1_0"
    assert r.headers["x-request-id"]
    assert len(r.content) > 0


@pytest.fixture(scope="module")
def network_server(v1_model_dir):
    """The tiny model with its network: a chunk takes long enough that leaving mid-stream drops queued work
    (the shared server's model-free chunks are all done before the client can leave)."""
    proc = AppServer(v1_model_dir).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("endpoint", ["speech", "phonemes", "captioned"])
def test_leaving_mid_stream_frees_the_request_on_every_audio_endpoint(network_server, endpoint):
    server = network_server
    path, body = _bodies(long_text(f"{endpoint} leaving"), phoneme_repeats=40)[endpoint]
    dropped_before = metric(server, 'kokoro_chunks_total{outcome="dropped"}')
    with httpx.stream("POST", server.url + path, json={**body, "stream": True}, timeout=120) as r:
        assert r.status_code == 200
        chunks = r.iter_raw()
        next(chunks)            # the first audio arrived: the request is running
        assert metric(server, "kokoro_active_requests") == 1
    eventually(lambda: not (metric(server, "kokoro_active_requests") or metric(server, "kokoro_queued_chunks")),
               timeout=20)
    assert metric(server, "kokoro_active_requests") == 0
    assert metric(server, "kokoro_queued_chunks") == 0
    assert metric(server, 'kokoro_chunks_total{outcome="dropped"}') > dropped_before


def test_the_app_factory_serves(v1_model_dir, tmp_path):
    proc = ServerProcess(v1_model_dir, tmp_path / "server.log", app="api.src.main:create_app",
                         uvicorn_args=("--factory",)).start()
    try:
        assert httpx.get(proc.url + "/health", timeout=10).status_code == 200
        r = httpx.post(proc.url + "/v1/audio/speech", timeout=120,
                       json={"input": "Built by the factory.", "voice": "af_heart", "response_format": "wav"})
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
        log = proc.log()   # the address it really bound, not the PORT default
        assert f"ready: http://127.0.0.1:{proc.port} (device" in log and ":8880" not in log, log
        assert f"web UI: http://127.0.0.1:{proc.port}/web/" in log
    finally:
        proc.stop()
