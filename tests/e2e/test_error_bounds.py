"""Errors never echo attacker-sized input, and malformed JSON names no byte offset as a field."""
import httpx
import pytest

from tests.support.http_calls import assert_envelope

HUGE = "x" * 1_000_000


@pytest.mark.parametrize("body, param", [
    ({"input": "Hello.", "voice": HUGE}, "voice"),
    ({"input": "Hello.", "voice": f"af_heart+{HUGE}(2)"}, "voice"),
    ({"input": "Hello.", "voice": "af_heart", "model": HUGE}, "model"),
])
def test_a_megabyte_of_input_gives_a_short_error(server, body, param):
    r = httpx.post(server.url + "/v1/audio/speech", json=body, timeout=60)
    error = assert_envelope(r, 400 if param == "voice" else r.status_code, param)
    assert r.status_code in (400, 404)
    assert len(r.content) < 3000, len(r.content)
    assert "xxxxxxxx" in error["message"] and "…" in error["message"]   # a prefix, then the cut


def test_a_huge_model_id_on_the_models_route_gives_a_short_404(server):
    r = httpx.get(server.url + "/v1/models/" + "m" * 20_000, timeout=60)
    assert r.status_code in (404, 414, 431)
    assert len(r.content) < 3000


@pytest.mark.parametrize("raw", [b'{"input": "hi", ', b'{"input": "hi" "voice": 1}', b'{"input": "hi"}}'])
def test_invalid_json_names_no_byte_offset_as_param(server, raw):
    r = httpx.post(server.url + "/v1/audio/speech", content=raw, timeout=30,
                   headers={"content-type": "application/json"})
    error = assert_envelope(r, 400)
    assert error["code"] == "invalid_json"
    assert error["param"] is None
    assert "JSON" in error["message"]
