"""return_download_link through the real server: the link serves the bytes the response delivered."""
import base64
import http.client
import json
import os

import httpx
import pytest

from tests.support.audio import EDGE_TOLERANCE, SAMPLE_RATE, decode
from tests.support.http_calls import metric
from tests.support.server import AppServer
from tests.support.waiting import eventually

TEXT = "The keeper climbed the stairs at dusk. The lamp turned, and ships passed safely."
LONG_TEXT = " ".join(f"Sentence {i} keeps the lighthouse keeper busy for a while longer." for i in range(16))
# Minutes of audio: more than loopback's socket buffers hold, so a client that stops reading leaves the server
# mid-file (LONG_TEXT once fit whole in a fast machine's buffers, and its file was committed).
ABANDONED_TEXT = " ".join(f"Sentence {i} keeps the lighthouse keeper busy for a while longer." for i in range(240))
CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}


def speech(server, **body):
    return {"input": TEXT, "voice": "af_heart", "seed": 5, "return_download_link": True, **body}


def fetch(server, path):
    return httpx.get(server.url + path, timeout=60)


def expected_seconds(server, **body) -> float:
    """The audio length the server predicts for a request, from its SSE usage (frames of 25 ms)."""
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json={**speech(server, **body), "return_download_link": False, "stream_format": "sse",
                            "response_format": "pcm"}) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    return events[-1]["usage"]["output_tokens"] * 600 / SAMPLE_RATE


def check_file(data: bytes, fmt: str, seconds: float):
    decoded = decode(data, fmt)
    assert decoded.channels == 1 and decoded.sample_rate == SAMPLE_RATE
    assert abs(decoded.duration - seconds) <= EDGE_TOLERANCE[fmt] + 1e-9, (decoded.duration, seconds)


@pytest.mark.parametrize("fmt", ["mp3", "wav"])
def test_streamed_body_and_link_are_the_same_file(server, fmt):
    with httpx.stream("POST", server.url + "/v1/audio/speech", json=speech(server, response_format=fmt),
                      timeout=120) as r:
        assert r.status_code == 200
        path = r.headers["x-download-path"]
        streamed = b"".join(r.iter_bytes())
    assert path.startswith("/v1/download/speech_") and path.endswith(f".{fmt}")
    got = fetch(server, path)
    assert got.status_code == 200
    assert got.headers["content-type"] == CONTENT_TYPES[fmt]
    if fmt == "wav":   # the file is complete: its header has the true sizes, the stream's says "unknown"
        assert got.content[44:] == streamed[44:] and got.content[8:40] == streamed[8:40]
    else:
        assert got.content == streamed
    check_file(got.content, fmt, expected_seconds(server, response_format=fmt))


def test_whole_body_and_link(server):
    r = httpx.post(server.url + "/v1/audio/speech", json=speech(server, response_format="wav", stream=False),
                   timeout=120)
    assert r.status_code == 200
    got = fetch(server, r.headers["x-download-path"])
    assert got.status_code == 200 and got.content == r.content


def test_sse_link_holds_the_decoded_audio(server):
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json=speech(server, response_format="mp3", stream_format="sse")) as r:
        path = r.headers["x-download-path"]
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done"
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    got = fetch(server, path)
    assert got.status_code == 200 and got.headers["content-type"] == "audio/mpeg"
    assert got.content == audio
    check_file(got.content, "mp3", expected_seconds(server))


def test_no_link_unless_asked(server):
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                   json={"input": "Hello.", "voice": "af_heart", "response_format": "pcm"})
    assert r.status_code == 200 and "x-download-path" not in r.headers


def test_cors_exposes_the_header(server):
    r = httpx.post(server.url + "/v1/audio/speech", json=speech(server, response_format="pcm"), timeout=120,
                   headers={"Origin": "http://example.com"})
    assert "x-download-path" in r.headers["access-control-expose-headers"].lower()


def test_not_served_before_it_is_complete(server):
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json=speech(server, input=LONG_TEXT, response_format="pcm")) as r:
        path = r.headers["x-download-path"]
        chunks = r.iter_raw()
        received = next(chunks)
        # Only the first chunk is out: the others are still being synthesized, so the file is partial.
        assert fetch(server, path).status_code == 404
        received += b"".join(chunks)
    got = fetch(server, path)
    assert got.status_code == 200 and got.content == received


def test_abandoned_stream_is_never_published(server):
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json=speech(server, input=LONG_TEXT, response_format="wav")) as r:
        path = r.headers["x-download-path"]
        next(r.iter_raw())
    # the server noticed the disconnect and dropped the request (it would have published by now)
    assert eventually(lambda: metric(server, "kokoro_active_requests") == 0, timeout=20)
    r = fetch(server, path)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "download_not_found"


def raw_get(server, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written: httpx would normalise the dot segments away."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", [
    "/v1/download/..%2F..%2Fetc%2Fpasswd",
    "/v1/download/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/v1/download/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/v1/download/../../../../etc/passwd",
    "/v1/download/%2Fetc%2Fpasswd",
    "/v1/download//etc/passwd",
    "/v1/download/speech_" + "0" * 32 + ".mp3",
    "/v1/download/speech_" + "0" * 32 + ".mp3%00",
    "/v1/download/speech_" + "0" * 32 + ".mp3%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/v1/download/",
])
def test_traversal_is_404(server, path):
    status, body = raw_get(server, path)
    assert status == 404
    assert b"root:" not in body
    assert set(json.loads(body)["error"]) == {"message", "type", "param", "code"}


def test_symlink_in_the_folder_is_404(server):
    from api.src.core.config import Settings

    folder = Settings().temp_file_dir   # the shared server runs with the default TEMP_FILE_DIR
    r = httpx.post(server.url + "/v1/audio/speech", json=speech(server, response_format="pcm"), timeout=120)
    assert (folder / r.headers["x-download-path"].rsplit("/", 1)[1]).is_file()   # it is the server's folder
    name = "speech_" + os.urandom(16).hex() + ".mp3"
    (folder / name).symlink_to("/etc/passwd")
    try:
        status, body = raw_get(server, f"/v1/download/{name}")
        assert status == 404 and b"root:" not in body
    finally:
        (folder / name).unlink()


@pytest.fixture(scope="module")
def network_server(v1_model_dir):
    """The tiny network, no chunk cache: a long text is still being synthesized when the client leaves (the
    shared model-free server finishes it at once)."""
    proc = AppServer(v1_model_dir, chunk_cache_mb=0).start()
    yield proc
    proc.stop()


def test_abandoned_stream_leaves_no_partial_file(network_server):
    from api.src.core.config import Settings

    server = network_server
    folder = Settings().temp_file_dir
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json=speech(server, input=ABANDONED_TEXT, response_format="pcm")) as r:
        name = r.headers["x-download-path"].rsplit("/", 1)[1]
        body = r.iter_raw()   # kept: a dropped iterator closes the connection (the client would leave here)
        next(body)
        # being written as it goes out (polled: under load the check once ran ahead of the server)
        assert eventually(lambda: (folder / f".{name}.partial").is_file(), timeout=5)
    eventually(lambda: not (folder / f".{name}.partial").exists(), timeout=20)
    assert not (folder / f".{name}.partial").exists()
    assert not (folder / name).exists()
