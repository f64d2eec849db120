"""Silence is bounded per request: pause tags cannot turn a few hundred bytes into minutes of audio."""
import httpx

from tests.support.http_calls import assert_envelope


def speak(server, text, **extra):
    return httpx.post(server.url + "/v1/audio/speech", timeout=120,
                      json={"input": text, "voice": "af_heart", "response_format": "pcm", "stream": False, **extra})


def test_thirty_ten_second_pauses_are_refused_naming_the_limit(server):
    r = speak(server, "Hi. " + "[pause:10s] " * 30 + "Bye.")
    error = assert_envelope(r, 400, param="input", words=["MAX_TOTAL_PAUSE_S"])
    assert error["code"] == "pause_limit"


def test_ssml_breaks_count_too(server):
    text = "<speak>Hi." + '<break time="10s"/>' * 30 + "Bye.</speak>"
    assert assert_envelope(speak(server, text, ssml=True), 400, param="input")["code"] == "pause_limit"


def test_pauses_within_the_limit_are_spoken(server):
    r = speak(server, "Hello there. [pause:2s] And again. [pause:1.5s] Done.")
    assert r.status_code == 200
    assert len(r.content) >= 2 * 24000 * 3.5          # at least the silence asked for, in s16 samples


def test_long_text_earns_proportionally_more_silence(server):
    sentences = " ".join(f"This is sentence number {i} of a fairly long passage." for i in range(40))
    text = sentences + " [pause:10s]" * 7           # 70 s of pauses: over 60, under twice the speech
    assert speak(server, text, stream=True).status_code == 200
