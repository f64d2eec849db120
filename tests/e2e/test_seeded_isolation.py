"""A seeded request speaks the same bytes under concurrent load as it does alone.

The load is one that any client can create on a server with ALLOW_MODEL_UNLOAD=true: unload a version,
then ask for it again, which rebuilds it (a KModel's construction initializes its weights from torch's
global RNG, on a thread other than the inference worker), plus unseeded requests and G2P work. Until
the worker drew its vocoder noise from a private generator, a rebuild that overlapped a seeded chunk
changed that chunk's noise (about half of a response's samples, not float noise).
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.server import AppServer

ROUNDS = 3
SEEDED = [{"model": "kokoro", "voice": voice, "seed": 300 + i, "response_format": "pcm", "stream": False,
           "input": f"The keeper climbed {i + 2} flights of stairs. Then he lit the lamp and watched the ships."}
          for i, voice in enumerate(("af_heart", "af_bella", "am_adam", "bf_emma") * 2)]


@pytest.fixture(scope="module")
def rebuild_server(model_dir):
    """No chunk cache (every response is synthesized), unloads allowed, v0.19 built on demand."""
    proc = AppServer(model_dir, chunk_cache_mb=0, allow_model_unload="true", max_queue_wait_s=0,
                     max_active_requests=64).start()
    yield proc
    proc.stop()


def speak(server, body: dict) -> bytes:
    r = httpx.post(server.url + "/v1/audio/speech", json=body, timeout=600)
    assert r.status_code == 200, r.text
    return r.content


class RebuildLoad:
    """One client in a loop: unload v0.19, speak with it (a rebuild), phonemize, speak unseeded.

    A single client, so at most one new request at a time competes with the seeded ones' later chunks.
    """

    def __init__(self, server):
        self.server = server
        self.stop = threading.Event()
        self.rebuilds = 0
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        url = self.server.url
        while not self.stop.is_set():
            try:
                httpx.post(url + "/v1/models/kokoro-v0_19/unload", timeout=600).raise_for_status()
                speak(self.server, {"model": "kokoro-v0_19", "input": "Built again.", "voice": "af_bella",
                                    "response_format": "pcm"})
                self.rebuilds += 1
                httpx.post(url + "/dev/phonemize", timeout=600, json={
                    "text": "Dr. Smith paid $1,234.56 at 5:30pm on 2024-01-02. " * 4}).raise_for_status()
                speak(self.server, {"model": "kokoro", "input": "An unseeded request.", "voice": "am_echo",
                                    "response_format": "pcm"})
            except Exception as exc:  # reported by the test, not swallowed
                self.errors.append(repr(exc))
                return

    def __enter__(self) -> "RebuildLoad":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self._thread.join(600)


def test_seeded_requests_under_rebuild_load_match_their_solo_bytes(rebuild_server):
    solo = [speak(rebuild_server, body) for body in SEEDED]
    with RebuildLoad(rebuild_server) as load, ThreadPoolExecutor(len(SEEDED)) as pool:
        for round_ in range(ROUNDS):
            together = list(pool.map(lambda body: speak(rebuild_server, body), SEEDED))
            changed = [i for i, (a, b) in enumerate(zip(solo, together)) if a != b]
            assert not changed, f"round {round_}: seeded requests {changed} differ from their solo bytes " \
                                f"({load.rebuilds} rebuilds so far)"
    assert not load.errors, load.errors
    assert load.rebuilds >= 1   # the load really ran beside the seeded requests
