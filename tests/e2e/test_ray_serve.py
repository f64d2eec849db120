"""The Ray Serve deployment (deploy/ray) on a local Ray cluster on loopback: two CPU replicas of the
tiny random model behind the gateway, driven over HTTP like any client would."""
import base64
import json
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytest.importorskip("ray.serve", reason="ray[serve] is not installed (pip install -e '.[ray]')")

from tests.support.audio import SAMPLE_RATE, decode  # noqa: E402
from tests.support.paths import REPO_ROOT  # noqa: E402
from tests.support.server import free_port  # noqa: E402

# Small limits so that a dozen clients overflow them: 2 replicas x 2 ongoing + 4 queued at the gateway.
# Ray counts a request as queued until a replica is picked, even one picked at once: simultaneous
# arrivals beyond QUEUED are refused whatever the free capacity, so no test sends more than QUEUED at
# once unless it wants refusals.
REPLICAS, ONGOING, QUEUED = 2, 2, 4
TEXT = "The quick brown fox jumps over the lazy dog. It was not amused, and said so twice."


@pytest.fixture(scope="module")
def ray_serve(v1_model_dir):
    import ray
    from ray import serve

    from deploy.ray.app import build_app

    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    # Replicas are new processes: they must import this checkout's `api` and `deploy`.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), saved["PYTHONPATH"]) if p)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # address="local": always a fresh cluster of our own, never one another process started here.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app({
            "num_replicas": REPLICAS, "num_cpus": 0.5, "max_ongoing_requests": ONGOING,
            "max_queued_requests": QUEUED, "retry_after_s": 3, "health_check_period_s": 2,
            # no chunk cache: repeated test requests must really load the replicas
            "env": {"MODEL_DIR": str(v1_model_dir), "TORCH_THREADS": "1", "LOG_LEVEL": "WARNING",
                    "CHUNK_CACHE_MB": "0"},
        }), name="kokoro", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def speech(url: str, **body) -> httpx.Response:
    return httpx.post(url + "/v1/audio/speech", json={"input": TEXT, "voice": "af_heart", **body}, timeout=120)


def concurrently(fn, count: int) -> list:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: fn(), range(count)))


def test_requests_are_spread_over_both_replicas(ray_serve):
    # Four at once against two replicas that take two each: both must serve.
    responses = concurrently(lambda: speech(ray_serve, response_format="wav"), REPLICAS * ONGOING)
    for r in responses:
        assert r.status_code == 200, r.text
        audio = decode(r.content, "wav")
        assert (audio.codec, audio.sample_rate, audio.channels) == ("pcm_s16le", SAMPLE_RATE, 1)
        assert audio.duration > 0.5
    assert len({r.headers["x-replica"] for r in responses}) == REPLICAS
    assert httpx.get(ray_serve + "/health", timeout=30).json()["status"] == "ok"


def test_audio_and_sse_stream_through(ray_serve):
    body = {"input": " ".join([TEXT] * 3), "voice": "af_bella", "response_format": "pcm"}
    with httpx.stream("POST", ray_serve + "/v1/audio/speech", json=body, timeout=120) as r:
        assert r.status_code == 200
        assert "content-length" not in r.headers
        pieces = [piece for piece in r.iter_raw() if piece]
    assert len(pieces) > 1, "a long input must arrive in several pieces"
    assert decode(b"".join(pieces), "pcm").duration > 1.0

    events = []
    with httpx.stream("POST", ray_serve + "/v1/audio/speech", json={**body, "stream_format": "sse"},
                      timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) > 1 and events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["output_tokens"] > 0
    assert decode(b"".join(base64.b64decode(e["audio"]) for e in deltas), "pcm").duration > 1.0


def test_app_errors_pass_through_in_the_envelope(ray_serve):
    r = speech(ray_serve, voice="no_such_voice")
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_backpressure_answers_429_with_retry_after(ray_serve):
    responses = concurrently(lambda: speech(ray_serve, response_format="pcm"), 12)
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= REPLICAS * ONGOING, statuses
    rejected = [r for r in responses if r.status_code == 429]
    assert rejected, f"12 clients against a capacity of {REPLICAS * ONGOING + QUEUED}: {statuses}"
    for r in rejected:
        assert r.headers["retry-after"] == "3"
        error = r.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert (error["type"], error["code"]) == ("rate_limit_error", "queue_full")


def test_a_killed_replica_does_not_fail_new_requests(ray_serve):
    import ray

    victim = speech(ray_serve, response_format="pcm").headers["x-replica"]
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("SERVE_REPLICA::kokoro#KokoroReplica#")]
    assert len(names) == REPLICAS
    name = next(n for n in names if n.endswith("#" + victim))
    ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)

    responses = concurrently(lambda: speech(ray_serve, response_format="pcm"), 3)
    responses.append(speech(ray_serve, response_format="pcm"))
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses if r.status_code != 200]
    assert victim not in {r.headers["x-replica"] for r in responses}
    assert all(decode(r.content, "pcm").duration > 0.5 for r in responses)
