"""A site CORS_ORIGINS does not allow cannot make the server work through CORS-simple requests, and the
voice combiner reads JSON only (text/plain is what a browser sends cross-site without a preflight)."""
import json

import httpx
import pytest

from tests.support.http_calls import assert_envelope
from tests.support.server import AppServer


@pytest.fixture(scope="module")
def narrowed(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, cors_origins="http://good.example").start()
    yield proc
    proc.stop()


SPEECH = {"input": "Hello.", "voice": "af_heart", "response_format": "pcm"}


def test_a_disallowed_origin_is_refused_before_any_work(narrowed):
    r = httpx.post(narrowed.url + "/v1/audio/speech", json=SPEECH, headers={"Origin": "http://evil.example"},
                   timeout=60)
    assert assert_envelope(r, 403)["code"] == "origin_not_allowed"
    r = httpx.post(narrowed.url + "/v1/audio/voices/combine", content=b"af_heart+af_sky", timeout=60,
                   headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
    assert_envelope(r, 403)


def test_an_allowed_origin_and_no_origin_are_served(narrowed):
    r = httpx.post(narrowed.url + "/v1/audio/speech", json=SPEECH, headers={"Origin": "http://good.example"},
                   timeout=60)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://good.example"
    assert httpx.post(narrowed.url + "/v1/audio/speech", json=SPEECH, timeout=60).status_code == 200


def test_the_default_allows_every_origin(server):
    r = httpx.post(server.url + "/v1/audio/speech", json=SPEECH, headers={"Origin": "http://any.example"},
                   timeout=60)
    assert r.status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded"])
def test_combine_does_not_read_simple_bodies(server, content_type):
    r = httpx.post(server.url + "/v1/audio/voices/combine", content=b"af_heart+af_sky", timeout=60,
                   headers={"Content-Type": content_type})
    assert assert_envelope(r, 415)["code"] == "unsupported_media_type"
    assert "application/json" in r.json()["error"]["message"]


def test_combine_still_reads_json(server):
    assert httpx.post(server.url + "/v1/audio/voices/combine", json="af_heart+af_sky", timeout=60).status_code == 200
    assert httpx.post(server.url + "/v1/audio/voices/combine", json={"voices": "af_heart+af_sky"},
                      timeout=60).status_code == 200


def test_an_origin_matching_the_host_is_not_enough(narrowed):
    """A DNS-rebinding page (evil.example now resolving to this server) sends an Origin equal to the Host:
    with CORS_ORIGINS narrowed, only the listed origins pass."""
    r = httpx.post(narrowed.url + "/v1/audio/speech", json=SPEECH, timeout=60,
                   headers={"Origin": "http://evil.example:8880", "Host": "evil.example:8880"})
    assert assert_envelope(r, 403)["code"] == "origin_not_allowed"
    host = narrowed.url.split("://")[1]
    r = httpx.post(narrowed.url + "/v1/audio/speech", json=SPEECH, timeout=60,
                   headers={"Origin": narrowed.url, "Host": host})
    assert assert_envelope(r, 403)["code"] == "origin_not_allowed"


def test_the_servers_own_pages_pass_when_their_origin_is_listed(v1_model_dir):
    """The bundled web UI's POSTs carry the server's own origin: listing it (beside others) keeps it working."""
    app = AppServer(v1_model_dir, cors_origins="http://good.example")
    app.settings.cors_origins.append(app.url)
    app.start()
    try:
        host = app.url.split("://")[1]
        r = httpx.post(app.url + "/v1/audio/speech", json=SPEECH, timeout=60,
                       headers={"Origin": app.url, "Host": host})
        assert r.status_code == 200
    finally:
        app.stop()


def test_a_disallowed_origin_is_refused_without_v1_too(narrowed):
    r = httpx.post(narrowed.url + "/audio/speech", json=SPEECH, headers={"Origin": "http://evil.example"},
                   timeout=60)
    assert assert_envelope(r, 403)["code"] == "origin_not_allowed"


def test_a_disallowed_origin_is_refused_for_a_body_without_content_type(narrowed):
    r = httpx.post(narrowed.url + "/v1/audio/speech", content=json.dumps(SPEECH).encode(), timeout=60,
                   headers={"Origin": "http://evil.example"})
    assert assert_envelope(r, 403)["code"] == "origin_not_allowed"
