"""Inline markup: pauses, custom pronunciations, voice/rate switches, offsets, refusals, linear time."""
import re
import time

import pytest

from api.src.http.errors import http_error
from api.src.core.exceptions import InvalidRequest
from api.src.services.text_processing.mapped_text import MappedText
from api.src.services.text_processing.markup import parse_inline
from api.src.services.text_processing.segments import PauseSegment, Pronunciation, SpeechSegment


def parse(text, allow_voice_tags=True, max_pause_s=10.0):
    return parse_inline(text, allow_voice_tags=allow_voice_tags, max_pause_s=max_pause_s)


def pieces(segments):
    return [p for s in segments if isinstance(s, SpeechSegment) for p in s.pieces]


def spoken(segments):
    return "".join(p.text for p in pieces(segments))


def assert_maps_back(original, segments):
    """Every verbatim character points at itself in the original; every word slices back exactly."""
    for piece in pieces(segments):
        if isinstance(piece, Pronunciation):
            assert original[piece.start:piece.end] == piece.text
            continue
        for ch, start, end in zip(piece.text, piece.starts, piece.ends):
            assert original[start:end] == ch
        for word in re.finditer(r"\S+", piece.text):
            start, end = piece.span(word.start(), word.end())
            assert original[start:end] == word.group(0)


def refusal(text, **kwargs):
    with pytest.raises(InvalidRequest) as info:
        parse(text, **kwargs)
    assert http_error(info.value).status_code == 400 and info.value.param == "input"
    return info.value


def test_plain_text_is_one_segment_mapped_verbatim():
    text = "Hello, world. Café 日本 😀!"
    segments = parse(text)
    assert len(segments) == 1 and segments[0].voice is None and segments[0].rate is None
    assert segments[0].pieces == [MappedText.of(text, 0)]


@pytest.mark.parametrize("tag, seconds", [("[pause:1.5s]", 1.5), ("[pause:500ms]", 0.5), ("[pause:2]", 2.0),
                                          ("[PAUSE: 250 ms ]", 0.25), ("[pause:0]", 0.0), ("[pause:.5s]", 0.5)])
def test_pause_tags(tag, seconds):
    text = f"One {tag} two"
    segments = parse(text)
    assert [type(s) for s in segments] == [SpeechSegment, PauseSegment, SpeechSegment]
    pause = segments[1]
    assert pause.seconds == pytest.approx(seconds)
    assert text[pause.start:pause.end] == tag
    assert [spoken([s]) for s in (segments[0], segments[2])] == ["One ", " two"]


def test_pause_is_capped():
    assert parse("a [pause:90s] b", max_pause_s=3.0)[1].seconds == 3.0
    assert parse("a [pause:99999999ms] b", max_pause_s=3.0)[1].seconds == 3.0


@pytest.mark.parametrize("tag", ["[pause:-1s]", "[pause:abc]", "[pause:1.5h]", "[pause]", "[pause:]",
                                 "[pause:1e3s]", "[pause:nan]", "[pause:inf]"])
def test_bad_pauses_are_refused(tag):
    error = refusal(f"a {tag} b")
    assert error.code == "invalid_pause" and tag in error.message


def test_negative_pause_says_so():
    assert "negative" in refusal("[pause:-2]").message


def test_pronunciation_spans_the_word():
    text = "Say [Kokoro](/kˈOkəɹO/) twice."
    segments = parse(text)
    assert len(segments) == 1
    before, word, after = segments[0].pieces
    assert word == Pronunciation("Kokoro", "kˈOkəɹO", 5, 11)
    assert text[word.start:word.end] == "Kokoro"
    assert (before.text, after.text) == ("Say ", " twice.")
    assert_maps_back(text, segments)


def test_pronunciation_word_with_spaces_is_stripped():
    text = "[ New York ](/ nˈu jˈɔɹk /)"
    (segment,) = parse(text)
    (word,) = segment.pieces
    assert (word.text, word.phonemes, text[word.start:word.end]) == ("New York", "nˈu jˈɔɹk", "New York")


@pytest.mark.parametrize("text", ["see [the docs](https://example.com) now", "[a](/)", "[ ](/x/)", "[a](/ /)",
                                  "[a](/b)", "[a] (/b/)", "[[a]](/b/)x"])
def test_non_pronunciations_stay_text(text):
    segments = parse(text)
    assert not any(isinstance(p, Pronunciation) for p in pieces(segments))
    assert spoken(segments) == text


def test_nested_brackets_keep_the_inner_pronunciation():
    text = "[[a](/b/)]"
    segments = parse(text)
    assert [p.text for p in pieces(segments)] == ["[", "a", "]"]
    assert_maps_back(text, segments)


def test_voice_switch_and_back():
    text = "Hi [voice:af_bella(2)+af_sky(1)] mixed [voice:default] back [voice:nova] openai [voice] request"
    segments = parse(text)
    assert [(spoken([s]), s.voice) for s in segments] == [
        ("Hi ", None), (" mixed ", "af_bella(2)+af_sky(1)"), (" back ", None), (" openai ", "nova"),
        (" request", None)]
    assert_maps_back(text, segments)


def test_rate_switch_and_resets():
    segments = parse("a [rate:1.3] b [rate:1] c [rate:0.5] d [rate:default] e [rate:2] f [rate] g")
    assert [(spoken([s]).strip(), s.rate) for s in segments] == [
        ("a", None), ("b", 1.3), ("c", None), ("d", 0.5), ("e", None), ("f", 2.0), ("g", None)]


def test_voice_and_rate_combine():
    segments = parse("[voice:bf_emma][rate:1.5]fast emma[voice:default] fast default")
    assert [(spoken([s]), s.voice, s.rate) for s in segments] == [
        ("fast emma", "bf_emma", 1.5), (" fast default", None, 1.5)]


@pytest.mark.parametrize("tag", ["[rate:0]", "[rate:4.5]", "[rate:-1]", "[rate:fast]", "[rate:]", "[rate:1,5]"])
def test_bad_rates_are_refused(tag):
    error = refusal(f"x {tag} y")
    assert error.code == "invalid_rate" and tag in error.message


def test_rate_limit_is_inclusive():
    assert parse("[rate:4]x")[0].rate == 4.0


def test_empty_voice_is_refused():
    assert refusal("[voice:  ] x").code == "invalid_voice_tag"


@pytest.mark.parametrize("tag", ["[voice:af_sky]", "[voice]", "[rate:1.2]", "[Rate:default]"])
def test_voice_tags_refused_when_disabled(tag):
    error = refusal(f"hello {tag} there", allow_voice_tags=False)
    assert error.code == "voice_tags_disabled" and "disabled" in error.message


def test_pauses_and_pronunciations_work_with_voice_tags_disabled():
    segments = parse("a [pause:1s] [b](/bˈi/)", allow_voice_tags=False)
    assert isinstance(segments[1], PauseSegment) and isinstance(segments[2].pieces[0], Pronunciation)


def test_whitespace_only_segments_are_omitted():
    segments = parse("  [pause:1s]\n [voice:af_sky] [pause:2s] [voice] ")
    assert segments == [PauseSegment(1.0, 2, 12), PauseSegment(2.0, 29, 39)]


def test_a_tag_that_changes_nothing_does_not_split():
    segments = parse("one [voice:default] two [rate:1] three")
    assert len(segments) == 1 and spoken(segments) == "one  two  three"


@pytest.mark.parametrize("text", ["a [ b", "[pause:1s", "[voice:x", "a [b] c", "[[[x", "x]y[", "[pause:1s)",
                                  "[pausee:1s]", "[ pause:1s]", "[rate 2]", "tail [a](/x/"])
def test_invalid_tags_stay_text(text):
    segments = parse(text)
    assert spoken(segments) == text
    assert_maps_back(text, segments)


def test_no_text_dropped_and_offsets_exact():
    text = ("Première phrase [pause:1s]deuxième [voice:jf_alpha]日本語の文 😀 [rate:1.2]"
            "[Kokoro](/kˈOkəɹO/) says [hi] [voice]end [ [pause:300ms]")
    segments = parse(text)
    assert_maps_back(text, segments)
    outside_tags = re.sub(r"\[pause:[^\]]*\]|\[voice[^\]]*\]|\[rate:[^\]]*\]|\]\(/[^)]*\)", " ", text)
    words = re.findall(r"[^\s\[\]]+", outside_tags)
    said = re.findall(r"[^\s\[\]]+", " ".join(p.text for p in pieces(segments)))
    assert said == words


ADVERSARIAL = {
    "open brackets": "[" * 200_000,
    "unclosed pauses": ("[pause:" * 30_000)[:200_000],
    "unclosed links": ("[a](/" * 40_000)[:200_000],
    "nested brackets": "[" * 100_000 + "]" * 100_000,
    "long word": "[" + "a" * 199_999,
    "long phonemes": "[a](/" + "b" * 199_995,
    "many pauses": "[pause:1ms]" * 18_000,
    "many pronunciations": "[a](/b/) " * 22_000,
}


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_input_is_linear(name):
    text = ADVERSARIAL[name]
    began = time.perf_counter()
    segments = parse(text, max_pause_s=0.001)
    elapsed = time.perf_counter() - began
    assert elapsed < 2.0, f"{name}: {elapsed:.2f}s"
    assert segments
