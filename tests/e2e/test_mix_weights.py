"""One parser and one formatter for voice mixes: a weight one endpoint accepts, every endpoint accepts and
means the same (issue: `af_bella(0.00001)` was combined, then spelt `1e-05` and refused by speech)."""
import httpx
import numpy as np
import pytest

from api.src.inference.voices import MixTerm, format_mix, parse_mix
from api.src.core.exceptions import InvalidRequest

WEIGHTS = [float(w) for w in np.logspace(-6, 6, 25)] + [1e-5, 0.1 + 0.2, 1 / 3, 100.0]


@pytest.mark.parametrize("weight", WEIGHTS)
def test_format_then_parse_gives_back_the_same_weight(weight):
    terms = [MixTerm("af_heart", 1.0), MixTerm("af_bella", weight), MixTerm("am_adam", -weight)]
    spelt = format_mix(terms)
    assert "e" not in spelt.replace("heart", "").replace("bella", "")   # no exponent
    try:
        assert parse_mix(spelt) == terms
    except InvalidRequest as exc:
        assert weight > 100 and exc.code == "invalid_voice"   # refused for its size, not its spelling


@pytest.mark.parametrize("weight", [1e-6, 1e-5, 0.000123, 1 / 3, 2.5, 100.0, 1e3, 1e6])
def test_combine_and_speech_agree_on_every_weight(server, weight):
    spec = f"af_heart(1)+af_bella({weight!r})"   # as a client writes it (1e-05 included)
    combined = httpx.post(server.url + "/v1/audio/voices/combine", json={"voices": spec}, timeout=60)
    spoken = httpx.post(server.url + "/v1/audio/speech", timeout=60,
                        json={"input": "Mixed.", "voice": spec, "response_format": "pcm", "seed": 1})
    assert combined.status_code == spoken.status_code, (combined.text, spoken.text)
    if combined.status_code != 200:
        assert combined.json()["error"]["code"] == spoken.json()["error"]["code"]
        return
    canonical = combined.headers["x-voice"]
    again = httpx.post(server.url + "/v1/audio/speech", timeout=60,
                       json={"input": "Mixed.", "voice": canonical, "response_format": "pcm", "seed": 1})
    assert again.status_code == 200, again.text
    assert again.content == spoken.content   # the canonical spelling means the same mix
    assert httpx.post(server.url + "/v1/audio/voices/combine", json={"voices": canonical},
                      timeout=60).headers["x-voice"] == canonical


def test_a_huge_unclosed_weight_is_refused_at_once(server):
    """The weight pattern cannot backtrack: two megabytes of digits without ')' cost one pass."""
    import time
    began = time.monotonic()
    r = httpx.post(server.url + "/v1/audio/voices/combine", json={"voices": "af_heart(" + "9" * 1_000_000},
                   timeout=60)
    assert r.status_code == 400 and time.monotonic() - began < 5
