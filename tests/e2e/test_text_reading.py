"""Text as people write it (issue 14), through the real server: markdown, URLs and e-mail addresses, ISO
dates and times, and pronunciation dictionaries. The tiny test models speak noise, so a reading is
checked by its audio (same seed, same phonemes: the same bytes) or by /dev/phonemize and captions."""
import json

import httpx
import numpy as np
import pytest

from tests.support.http_calls import assert_envelope, captioned, pcm
from tests.support.server import AppServer


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


def test_request_pronunciations_for_both_versions(server):
    for model, voice in (("kokoro", "af_heart"), ("kokoro-v0_19", "af")):
        def speak(text, **body):
            return pcm(server, input=text, model=model, voice=voice, **body)

        given = speak("Say Kokoro's name, KOKORO.", pronunciations={"kokoro": "/bˈæn/"})
        assert np.array_equal(given, speak("Say [Kokoro](/bˈæn/)'s name, [KOKORO](/bˈæn/)."))
        assert not np.array_equal(given, speak("Say Kokoro's name, KOKORO."))
        respelled = speak("Meet Ann today.", pronunciations={"ann": "Banana"})
        assert np.array_equal(respelled, speak("Meet Banana today."))
        error = assert_envelope(speak_raw(server, model, voice, "Say Kokoro.", {"Kokoro": "/kˈO☃/"}), 400, "pronunciations")
        assert "Kokoro" in error["message"] and "☃" in error["message"]
    assert_envelope(speak_raw(server, "kokoro", "af_heart", "Hi.", {"-bad": "x"}), 400, "pronunciations")


def speak_raw(server, model, voice, text, pronunciations) -> httpx.Response:
    return httpx.post(server.url + "/v1/audio/speech", timeout=120, json={
        "input": text, "model": model, "voice": voice, "response_format": "pcm", "stream": False,
        "pronunciations": pronunciations})


def test_server_pronunciations_file(model_dir, tmp_path):
    path = tmp_path / "pronunciations.json"
    path.write_text(json.dumps({"Kokoro": "/bˈæn/", "Ann": "Banana"}), encoding="utf-8")
    proc = AppServer(model_dir, model_free=True, pronunciations_file=str(path)).start()
    try:
        assert np.array_equal(pcm(proc, input="Kokoro and Ann."), pcm(proc, input="[Kokoro](/bˈæn/) and Banana."))
        overridden = pcm(proc, input="Kokoro and Ann.", pronunciations={"ann": "Anne"})
        assert np.array_equal(overridden, pcm(proc, input="[Kokoro](/bˈæn/) and Anne."))
    finally:
        proc.stop()
    bad = tmp_path / "bad.json"
    bad.write_text('{"Kokoro": ', encoding="utf-8")
    for broken in (bad, tmp_path / "missing.json"):
        with pytest.raises(ValueError, match="PRONUNCIATIONS_FILE"):   # create_app refuses it
            AppServer(model_dir, model_free=True, pronunciations_file=str(broken)).start(timeout=60)
