"""Errors a client causes are 4xx in the OpenAI envelope, never a 500 (issue 22 §5): JSON nested past
the parser's depth, digit runs no number-to-words can say, voice mixes whose weights blow up or vanish."""
import httpx
import pytest

from tests.support.http_calls import assert_envelope

POST_ROUTES = ("/v1/audio/speech", "/audio/speech", "/dev/captioned_speech", "/dev/phonemize",
               "/dev/generate_from_phonemes", "/v1/audio/voices/combine", "/audio/voices/combine")
DEEP = 100_000


@pytest.mark.parametrize("content_type", [None, "application/json"])
@pytest.mark.parametrize("body", [b"[" * DEEP + b"]" * DEEP, b'{"input": ' * DEEP + b"1" + b"}" * DEEP],
                         ids=["arrays", "objects"])
@pytest.mark.parametrize("route", POST_ROUTES)
def test_json_nested_past_the_parser_depth_is_a_400(server, route, body, content_type):
    headers = {"content-type": content_type} if content_type else {}
    r = httpx.post(server.url + route, content=body, headers=headers, timeout=60)
    error = assert_envelope(r, 400)
    assert error["code"] == "invalid_json", error
    assert "nested" in error["message"], error
