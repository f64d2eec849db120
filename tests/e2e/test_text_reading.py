"""Text as people write it (issue 14), through the real server: markdown, URLs and e-mail addresses, ISO
dates and times, and pronunciation dictionaries. The tiny test models speak noise, so a reading is
checked by its audio (same seed, same phonemes: the same bytes) or by /dev/phonemize and captions."""
import httpx
import numpy as np

from tests.e2e.test_text_features import captioned, envelope, pcm


def phonemize(server, **body) -> dict:
    r = httpx.post(server.url + "/dev/phonemize", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def test_markdown_is_read_as_words(server):
    md = "# Welcome\n- **Fast** setup\n- Read [the docs](https://example.com/docs)"
    plain = "Welcome.\nFast setup.\nRead the docs."
    assert np.array_equal(pcm(server, input=md), pcm(server, input=plain))
    raw = pcm(server, input=md, normalization_options={"markdown": False})
    assert not np.array_equal(raw, pcm(server, input=plain))
    words = captioned(server, input=md)["timestamps"]
    spans = {md[w["text_start"]:w["text_end"]] for w in words}
    assert {"Welcome", "Fast", "docs"} <= spans, spans
    for model in ("kokoro", "kokoro-v0_19"):
        assert phonemize(server, text="## Sub *heading*", model=model)["phonemes"] == \
            phonemize(server, text="Sub heading.", model=model)["phonemes"]


def test_urls_emails_and_handles_read_as_people_say_them(server):
    said = "See example dot com slash docs, write to user at example dot org, or ask at alice."
    written = "See https://www.example.com/docs/, write to user@example.org, or ask @alice."
    assert np.array_equal(pcm(server, input=written), pcm(server, input=said))
    for model in ("kokoro", "kokoro-v0_19"):
        assert phonemize(server, text=written, model=model)["phonemes"] == \
            phonemize(server, text=said, model=model)["phonemes"]


def test_iso_dates_and_times_read_naturally(server):
    written = "The launch is 2026-12-04T14:30Z, not 1990-1995."
    said = "The launch is December fourth, twenty twenty-six at fourteen thirty U T C, not 1990 to 1995."
    assert np.array_equal(pcm(server, input=written), pcm(server, input=said))
    words = captioned(server, input=written)["timestamps"]
    assert "2026-12-04T14:30Z" in {written[w["text_start"]:w["text_end"]] for w in words}
