"""Talking to a server under test (``ServerProcess`` or ``AppServer``: anything with ``url`` and ``port``)
the way a client does: speech requests, SSE events, /metrics values, the OpenAI error envelope, held
streams and raw sockets."""
import base64
import json
import re
import socket

import httpx
import numpy as np

# Varied requests for tests that run many clients at once.
VOICES = ("af_heart", "af_bella", "af_sky", "am_adam", "am_echo", "bf_emma", "bm_george", "af_nova")
TEXTS = [
    "Short one.",
    "The rain in Spain stays mainly in the plain, or so they say.",
    "Numbers like 42 and 1,024 should be read aloud properly. Then another sentence follows it.",
    "A longer paragraph: it has clauses, commas, and a question? Yes! It also ends with an exclamation.",
]
# Far more audio than the socket buffers hold: a request that is not read stays in flight.
HELD_TEXT = " ".join(f"Sentence {i} waits for a reader who is busy elsewhere." for i in range(150))


def speech(server, **body) -> httpx.Response:
    """POST ``body`` as JSON to /v1/audio/speech; the whole answer."""
    return httpx.post(server.url + "/v1/audio/speech", json=body, timeout=120)


def sse(server, **body) -> tuple[list[dict], bytes]:
    """Events of an SSE speech request, and the concatenated audio of its deltas."""
    with httpx.stream("POST", server.url + "/v1/audio/speech", json={**body, "stream_format": "sse"},
                      timeout=120) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in r.iter_lines() if line.startswith("data: ")]
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    return events, audio


def pcm(server, **body) -> np.ndarray:
    """Samples of a non-streamed PCM request (af_heart, seed 3 unless ``body`` says otherwise)."""
    r = speech(server, **{"voice": "af_heart", "response_format": "pcm", "stream": False, "seed": 3, **body})
    assert r.status_code == 200, r.text
    return np.frombuffer(r.content, "<i2")


def captioned(server, **body) -> dict:
    """/dev/captioned_speech's answer (af_heart, wav, seed 5 unless ``body`` says otherwise)."""
    body = {"voice": "af_heart", "response_format": "wav", "stream": False, "seed": 5, **body}
    r = httpx.post(server.url + "/dev/captioned_speech", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def metric(server, name: str) -> float:
    """One sample of /metrics, by its name with labels (``kokoro_chunks_total{outcome="done"}``)."""
    text = httpx.get(server.url + "/metrics").text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def assert_envelope(r: httpx.Response, status: int, param=None, words=()) -> dict:
    """``r`` has ``status`` and OpenAI's error envelope (with ``param`` and these words in the message)."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param:
        assert error["param"] == param
    for word in words:
        assert word in error["message"]
    return error


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


def stalled_socket(server, partial: bytes = b'{"input": "', path: str = "/v1/audio/speech") -> socket.socket:
    """A raw connection that sent its headers (Content-Length: 100) and only the start of its body."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"POST {path} HTTP/1.1\r\n".encode() + b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n" + partial)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """What the server sends back on a raw socket, up to the end of a JSON body (or the close)."""
    answer = b""
    while b"\r\n\r\n" not in answer or b"}" not in answer:
        data = sock.recv(4096)
        if not data:
            break
        answer += data
    return answer
