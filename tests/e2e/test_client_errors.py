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


DIGITS = {"ascii": "1", "arabic-indic": "\u0661", "devanagari": "\u0967", "fullwidth": "\uff11",
          "math": "\U0001d7cf"}


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("digit", DIGITS.values(), ids=DIGITS.keys())
def test_a_number_of_hundreds_of_digits_is_read_digit_by_digit(server, digit, normalize):
    """misaki's number-to-words cannot say 306 digits or more: an OverflowError, a 500 (also when the digits
    are grouped by commas, or stand before a decimal point)."""
    for number in (digit * 320, ",".join([digit] * 320), digit * 320 + ".5"):
        r = httpx.post(server.url + "/dev/phonemize", timeout=60,
                       json={"text": f"Count {number} now.", "normalization_options": {"normalize": normalize}})
        assert r.status_code == 200, r.text
        assert r.json()["phonemes"].count("wˈʌn") >= 320


def test_a_huge_number_mid_stream_does_not_abort_the_stream(server):
    text = "This first sentence is fine and long enough to be a chunk of its own. " * 3 + "\u0661" * 320 + "."
    with httpx.stream("POST", server.url + "/v1/audio/speech", timeout=120,
                      json={"input": text, "voice": "af_heart", "response_format": "pcm"}) as r:
        assert r.status_code == 200
        audio = r.read()   # an aborted stream raises here
    assert len(audio) > 24_000 * 2 * 30   # the 320 digits are spoken, a third of a second each at least


@pytest.mark.parametrize("spec", ["af_heart(1e-45)-af_bella(100)", "af_heart(0.000001)-af_bella(100)",
                                  "af_heart(0.5)-af_bella(51)", "af_heart(0.0001)+af_sky(0.0001)-af_bella(1)"])
@pytest.mark.parametrize("route", ["/v1/audio/speech", "/v1/audio/voices/combine"])
def test_a_mix_whose_normalized_weight_passes_the_cap_is_a_400(server, route, spec):
    """Divided by the added weights, ``af_bella(100)`` weighs 10^47 (float32 overflow, a 500) or 10^8
    (silence; combine even saved it, a pack that then failed forever)."""
    body = {"input": "Mixed.", "voice": spec} if "speech" in route else {"voices": spec}
    error = assert_envelope(httpx.post(server.url + route, json=body, timeout=60), 400, "voice" if "speech" in route
                            else None)
    assert error["code"] == "invalid_voice" and "at most 100" in error["message"], error


def test_a_mix_within_the_cap_still_speaks(server):
    for spec in ("af_heart-af_bella(0.5)", "af_heart(1)-af_bella(100)", "af_heart(0.000001)+af_bella(100)"):
        r = httpx.post(server.url + "/v1/audio/speech", timeout=60,
                       json={"input": "Mixed.", "voice": spec, "response_format": "pcm", "seed": 1})
        assert r.status_code == 200 and len(r.content) > 1000, (spec, r.text[:200])
