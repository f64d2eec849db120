"""Text and voice features through the real server: tags, aliases, SSML, pauses, captions, phonemes, cache."""
import base64
import json

import httpx
import numpy as np
import pytest

from tests.support import http_calls
from tests.support.audio import SAMPLE_RATE, decode
from tests.support.http_calls import assert_envelope, captioned, pcm
from tests.support.server import AppServer


def speech(server, **body) -> httpx.Response:
    return http_calls.speech(server, **{"voice": "af_heart", "response_format": "pcm", "stream": False, "seed": 3,
                                        **body})


def longest_zero_run(samples: np.ndarray) -> int:
    zero = np.concatenate([[0], (samples == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(zero))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


def test_pause_tag_inserts_exact_silence(server):
    audio = pcm(server, input="Hello there. [pause:1.5s] And now, more words.")
    assert 36_000 <= longest_zero_run(audio) <= 36_004
    capped = pcm(server, input="One. [pause:100s] Two.")          # MAX_PAUSE_S: 10 s
    assert 240_000 <= longest_zero_run(capped) <= 240_004
    assert_envelope(speech(server, input="One. [pause:-1s] Two."), 400, "input")


def test_voice_and_rate_tags_equal_the_plain_request(server):
    plain_bella = pcm(server, input="Hello there, friend.", voice="af_bella")
    tagged = pcm(server, input="[voice:af_bella]Hello there, friend.", allow_voice_tags=True)
    assert np.array_equal(tagged, plain_bella)
    fast = pcm(server, input="Hello there, friend.", speed=2.0)
    assert np.array_equal(pcm(server, input="[rate:2]Hello there, friend.", allow_voice_tags=True), fast)
    mixed = pcm(server, input="[voice:af_bella(2)+af_sky(1)]Hello there, friend.", allow_voice_tags=True)
    assert np.array_equal(mixed, pcm(server, input="Hello there, friend.", voice="af_bella(2)+af_sky(1)"))
    # two voices in one request: longer than either part, and not the same as one voice throughout
    both = pcm(server, input="Hello there. [voice:am_adam] Hello there.", allow_voice_tags=True)
    assert not np.array_equal(both, pcm(server, input="Hello there. Hello there."))


def test_voice_tags_need_permission(server):
    # not asked for: a tag is refused, never silently dropped or spoken as text
    assert_envelope(speech(server, input="[voice:af_bella] Hello."), 400, "input")
    assert_envelope(speech(server, input="[voice:nobody] Hello.", allow_voice_tags=True), 400, "voice")


def test_server_can_forbid_voice_tags(model_dir):
    proc = AppServer(model_dir, model_free=True, allow_voice_tags="false").start()
    try:
        assert_envelope(speech(proc, input="[voice:af_bella] Hello.", allow_voice_tags=True), 403, "allow_voice_tags")
        assert speech(proc, input="Hello [pause:0.2s] there.").status_code == 200   # pauses stay allowed
    finally:
        proc.stop()


def test_voice_aliases(server):
    expected = pcm(server, input="Hello there, friend.", voice="af_bella", speed=2.0)
    aliases = {"narrator": {"voice": "af_bella", "rate": 2.0}, "hero": "am_adam(1)+af_sky(1)"}
    assert np.array_equal(pcm(server, input="Hello there, friend.", voice="narrator", voice_aliases=aliases), expected)
    tagged = pcm(server, input="[voice:narrator]Hello there, friend.", voice_aliases=aliases, allow_voice_tags=True)
    assert np.array_equal(tagged, expected)
    hero = pcm(server, input="Hello there, friend.", voice="hero", voice_aliases=aliases)
    assert np.array_equal(hero, pcm(server, input="Hello there, friend.", voice="am_adam(1)+af_sky(1)"))
    assert_envelope(speech(server, input="Hi.", voice_aliases={"bad name!": "af_bella"}), 400)
    assert_envelope(speech(server, input="Hi.", voice="x", voice_aliases={"x": "nobody"}), 400, "voice")


def test_ssml(server):
    expected = pcm(server, input="Hello there, friend.", speed=1.25)
    ssml = '<speak><prosody rate="fast">Hello there, friend.</prosody></speak>'
    assert np.array_equal(pcm(server, input=ssml, ssml=True), expected)
    voiced = pcm(server, input='<speak><voice name="af_bella">Hello there, friend.</voice></speak>', ssml=True)
    assert np.array_equal(voiced, pcm(server, input="Hello there, friend.", voice="af_bella"))
    broken = pcm(server, input='<speak>One. <break time="1s"/> Two.</speak>', ssml=True)
    assert 24_000 <= longest_zero_run(broken) <= 24_004
    for bad in ("<speak>unclosed", '<!DOCTYPE x [<!ENTITY a "b">]><speak>&a;</speak>', "<speak><blink>x</blink></speak>"):
        assert_envelope(speech(server, input=bad, ssml=True), 400, "input")


def test_captions_line_up_with_the_audio_and_the_original_text(server):
    text = "I paid $5 for 2 apples. Dr. Smith said hello, twice!"
    result = captioned(server, input=text)
    audio = decode(base64.b64decode(result["audio"]), "wav")
    words = result["timestamps"]
    assert [w["word"] for w in words if w["word"].isalpha()][:2] == ["I", "paid"]
    previous = 0.0
    for w in words:
        assert previous <= w["start_time"] <= w["end_time"] <= audio.duration + 1e-6, w
        previous = w["start_time"]
        assert 0 <= w["text_start"] < w["text_end"] <= len(text)
    spans = {text[w["text_start"]:w["text_end"]] for w in words}
    for original in ("paid", "apples", "Smith", "hello", "twice", "$5"):
        assert original in spans, (original, spans)
    assert words[-1]["end_time"] > audio.duration * 0.5


def test_captions_streamed_as_ndjson(server):
    body = {"input": "First sentence here. " * 12 + "The end.", "voice": "af_heart", "response_format": "pcm",
            "seed": 1}
    with httpx.stream("POST", server.url + "/dev/captioned_speech", json=body, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.iter_lines() if line.strip()]
    assert len(lines) > 1
    audio = b"".join(base64.b64decode(line["audio"]) for line in lines)
    words = [w for line in lines for w in line["timestamps"]]
    assert len([w for w in words if w["word"] == "sentence"]) == 12
    assert words[-1]["end_time"] <= len(audio) / 2 / SAMPLE_RATE + 1e-6
    # the same request in one JSON gives the same audio
    whole = captioned(server, **{**body, "response_format": "pcm", "seed": 1})
    assert base64.b64decode(whole["audio"]) == audio


def test_custom_pronunciation_and_phoneme_endpoints(server):
    phonemes = "kˈOkəɹO"
    from_phonemes = httpx.post(server.url + "/dev/generate_from_phonemes", timeout=120, json={
        "phonemes": phonemes, "voice": "af_heart", "response_format": "pcm", "seed": 3, "stream": False})
    assert from_phonemes.status_code == 200, from_phonemes.text
    assert np.array_equal(np.frombuffer(from_phonemes.content, "<i2"), pcm(server, input=f"[Kokoro](/{phonemes}/)"))
    words = captioned(server, input=f"Say [Kokoro](/{phonemes}/) now.")["timestamps"]
    text = f"Say [Kokoro](/{phonemes}/) now."
    assert "Kokoro" in [text[w["text_start"]:w["text_end"]] for w in words]
    # speed honoured, any format, streamed
    for fmt in ("mp3", "wav"):
        slow = httpx.post(server.url + "/dev/generate_from_phonemes", timeout=120, json={
            "phonemes": phonemes + " " + phonemes, "speed": 0.5, "response_format": fmt, "seed": 1})
        fast = httpx.post(server.url + "/dev/generate_from_phonemes", timeout=120, json={
            "phonemes": phonemes + " " + phonemes, "speed": 2.0, "response_format": fmt, "seed": 1})
        assert decode(slow.content, fmt).duration > decode(fast.content, fmt).duration * 2
    assert_envelope(httpx.post(server.url + "/dev/generate_from_phonemes", json={"phonemes": "123 ###"}, timeout=60), 400)


def test_phonemize_normalizes_english_for_both_versions(server):
    def phonemize(**body):
        r = httpx.post(server.url + "/dev/phonemize", json=body, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()

    for model in ("kokoro", "kokoro-v0_19"):
        money = phonemize(text="It costs $5.", model=model)
        assert money["phonemes"] == phonemize(text="It costs five dollars.", model=model)["phonemes"]
        mail = phonemize(text="Write to jane@example.com today.", model=model)
        assert mail["phonemes"] == phonemize(text="Write to jane at example dot com today.", model=model)["phonemes"]
        raw = phonemize(text="Write to jane@example.com today.", model=model,
                        normalization_options={"normalize": False})
        assert raw["phonemes"] != mail["phonemes"]
        no_email = phonemize(text="Write to jane@example.com today.", model=model,
                             normalization_options={"email_normalization": False})
        assert no_email["phonemes"] != mail["phonemes"]
        assert money["tokens"] and all(isinstance(t, int) for t in money["tokens"])
    assert phonemize(text="Hola, ¿cómo estás?", language="e")["phonemes"]


def test_phonemize_reads_markup_as_speech_does(server):
    """/dev/phonemize is the speech planner without synthesis: tags, given pronunciations and pauses are
    read as /v1/audio/speech reads them, not phonemized as text."""
    def phonemes(text):
        r = httpx.post(server.url + "/dev/phonemize", json={"text": text}, timeout=120)
        assert r.status_code == 200, r.text
        return r.json()["phonemes"]

    given = phonemes("Say [Kokoro](/kˈOkəɹO/) now.")
    assert "kˈOkəɹO" in given and "/" not in given and "[" not in given
    assert phonemes("Hello [pause:1s] world.") == phonemes("Hello world.")


def test_repeated_request_is_served_from_the_cache(server):
    body = {"input": "A sentence that is repeated word for word. And another one.", "seed": 11}
    first = pcm(server, **body)
    hits = _cache_hits(server)
    second = pcm(server, **body)
    assert np.array_equal(first, second)
    assert _cache_hits(server) >= hits + 2


def _cache_hits(server) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("kokoro_chunk_cache_hits_total"):
            return float(line.split()[-1])
    pytest.fail("no kokoro_chunk_cache_hits_total in /metrics")


def test_no_speakable_text_and_other_languages(server):
    assert_envelope(speech(server, input="[pause:1s]"), 400, "input")
    for lang, text in (("f", "Bonjour tout le monde."), ("e", "Hola a todos."), ("i", "Ciao a tutti."),
                       ("p", "Olá a todos."), ("h", "नमस्ते दुनिया"), ("z", "你好，世界。")):
        assert len(pcm(server, input=text, lang_code=lang)) > 0, lang


def test_japanese_with_word_captions(server):
    text = "こんにちは、世界。"
    words = captioned(server, input=text, lang_code="j")["timestamps"]
    assert [text[w["text_start"]:w["text_end"]] for w in words] == ["こんにちは", "世界"]


def test_v0_19_captions_phonemes_and_tags(server):
    text = "Hello there, my friend. [pause:0.5s] It costs $5."
    result = captioned(server, input=text, model="kokoro-v0_19", voice="af")
    words = result["timestamps"]
    assert words and all(0 <= w["text_start"] < w["text_end"] <= len(text) for w in words)
    assert "friend." in {text[w["text_start"]:w["text_end"]] for w in words} | {w["word"] for w in words}
    audio = decode(base64.b64decode(result["audio"]), "wav")
    assert words[-1]["end_time"] <= audio.duration + 1e-6
    r = httpx.post(server.url + "/dev/generate_from_phonemes", timeout=120, json={
        "model": "kokoro-v0_19", "voice": "af_bella", "phonemes": "həlˈoʊ wˈɜːld", "response_format": "flac"})
    assert r.status_code == 200 and decode(r.content, "flac").duration > 0
    tagged = pcm(server, model="kokoro-v0_19", voice="af", input="[voice:bf_emma]Hello there.", allow_voice_tags=True)
    assert np.array_equal(tagged, pcm(server, model="kokoro-v0_19", voice="bf_emma", input="Hello there."))


def test_chunk_joins_get_a_pause_by_punctuation(server):
    # the first chunk closes after the first sentence (over FIRST_CHUNK_MIN_TOKENS): the join after it is
    # SENTENCE_PAUSE_S of silence
    audio = pcm(server, input="Hello there, it is good to hear from you again. And now, some more words to say.")
    assert 6_000 <= longest_zero_run(audio) <= 6_004
    # one chunk only: no join, no inserted silence
    assert longest_zero_run(pcm(server, input="Hello there")) < 600
