"""IDLE_UNLOAD_S on a real server: versions unused that long are freed (/health says unloaded_idle and
stays 200), and the next request for one builds it again and is answered."""

import httpx
import pytest

from tests.support.server import ServerProcess
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def idle_server(model_dir, tmp_path_factory):
    proc = ServerProcess(model_dir, tmp_path_factory.mktemp("idle") / "server.log", model_free=True,
                         idle_unload_s=1).start()
    yield proc
    proc.stop()


def states(server) -> tuple[int, dict]:
    r = httpx.get(server.url + "/health", timeout=10)
    return r.status_code, {v: s["state"] for v, s in r.json()["versions"].items()}


def wait_for_state(server, version, state, timeout_s=20):
    last = []

    def reached() -> bool:
        last[:] = states(server)
        return last[1][version] == state

    if not eventually(reached, timeout=timeout_s, interval=0.2):
        pytest.fail(f"{version} never became {state}: {states(server)}")
    return last[0]


def speak(server, model):
    return httpx.post(server.url + "/v1/audio/speech", timeout=120, json={
        "model": model, "input": "Hello there.", "voice": "af_bella", "response_format": "pcm"})


def test_idle_versions_are_freed_and_rebuilt_on_demand(idle_server):
    r = speak(idle_server, "kokoro-v0_19")
    assert r.status_code == 200 and len(r.content) > 0
    assert states(idle_server)[1]["v0_19"] == "ready"
    # Both versions go idle; the server stays ready (the default is rebuilt on its next request too).
    assert wait_for_state(idle_server, "v0_19", "unloaded_idle") == 200
    assert wait_for_state(idle_server, "v1_0", "unloaded_idle") == 200
    for model, version in (("kokoro-v0_19", "v0_19"), ("kokoro", "v1_0")):
        r = speak(idle_server, model)
        assert r.status_code == 200 and len(r.content) > 0, r.text
    assert "model v0_19 unloaded (idle)" in idle_server.log()
