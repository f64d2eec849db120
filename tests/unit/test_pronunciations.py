"""Pronunciation dictionaries: parsing and bounds, whole-word case-insensitive matching, the request over
the server's file, and segments rewritten onto the inline-phoneme path."""
import json
import time

import pytest

from api.src.core.exceptions import InvalidRequest
from api.src.services.text_processing.markup import parse_inline
from api.src.services.text_processing.pronunciations import (MAX_KEY_CHARS, MAX_REQUEST_ENTRIES, MAX_VALUE_CHARS,
                                                            PronunciationDict, check_phonemes, load_file,
                                                            parse_entries)
from api.src.services.text_processing.segments import PauseSegment, Pronunciation, SpeechSegment


def entries(mapping, max_entries=MAX_REQUEST_ENTRIES):
    return parse_entries(mapping, source="pronunciations", param="pronunciations", max_entries=max_entries)


def found(mapping, text):
    return [(text[a:b], e.phonemes or e.text) for a, b, e in PronunciationDict(entries(mapping)).find(text)]


def test_whole_words_any_case_longest_first():
    d = {"Kokoro": "/kˈOkəɹO/", "new york": "Noo Yawk", "new": "/nu/", "C++": "see plus plus"}
    assert found(d, "KOKORO, kokoro's and Kokoros") == [("KOKORO", "kˈOkəɹO"), ("kokoro", "kˈOkəɹO")]
    assert found(d, "New  York is new") == [("New  York", "Noo Yawk"), ("new", "nu")]
    assert found(d, "New,York") == [("New", "nu")]
    assert found(d, "renew the C++ code") == [("C++", "see plus plus")]
    assert found(d, "a_kokoro kokoro2") == []


def test_request_entries_win_over_the_server_file():
    server = PronunciationDict(entries({"kokoro": "Server", "tts": "/tˌitˌiˈɛs/"}))
    request = PronunciationDict(entries({"Kokoro": "Request"}), base=server)
    assert [(e.text or e.phonemes) for _, _, e in request.find("Kokoro tts")] == ["Request", "tˌitˌiˈɛs"]


@pytest.mark.parametrize("mapping, says", [
    ({f"w{i}": "x" for i in range(MAX_REQUEST_ENTRIES + 1)}, "entries"),
    ({"": "x"}, "must start with"),
    ({"-dash": "x"}, "must start with"),
    ({"a" * (MAX_KEY_CHARS + 1): "x"}, "at most"),
    ({"br[ack]et": "x"}, "brackets"),
    ({"word": ""}, "1 to"),
    ({"word": "x" * (MAX_VALUE_CHARS + 1)}, "1 to"),
    ({"word": "/half"}, "/phonemes/ or a respelling"),
    ({"word": 5}, "must map a word to a string"),
])
def test_bounds_and_bad_entries_are_refused(mapping, says):
    with pytest.raises(InvalidRequest) as info:
        entries(mapping)
    assert says in str(info.value) and info.value.param == "pronunciations"


def test_phonemes_outside_the_vocab_are_refused_naming_the_word():
    vocab = set("kˈOəɹ ")
    check_phonemes(entries({"Kokoro": "/kˈOkəɹO/"}).values(), vocab, source="pronunciations",
                   param="pronunciations", model="m")
    with pytest.raises(InvalidRequest) as info:
        check_phonemes(entries({"Kokoro": "/kˈO9əɹO/"}).values(), vocab, source="pronunciations",
                       param="pronunciations", model="m")
    assert "'Kokoro'" in str(info.value) and "'9'" in str(info.value)


def test_segments_take_the_inline_phoneme_path():
    text = "Say Kokoro now. [pause:1s] And kokoro again, said Ann."
    d = PronunciationDict(entries({"kokoro": "/kˈOkəɹO/", "Ann": "Anne"}))
    segments = d.apply(parse_inline(text, allow_voice_tags=False, max_pause_s=10))
    inline = parse_inline("Say [Kokoro](/kˈOkəɹO/) now. [pause:1s] And [kokoro](/kˈOkəɹO/) again, said Anne.",
                          allow_voice_tags=False, max_pause_s=10)
    assert [type(s) for s in segments] == [SpeechSegment, PauseSegment, SpeechSegment]
    ours = [p for s in segments if isinstance(s, SpeechSegment) for p in s.pieces]
    theirs = [p for s in inline if isinstance(s, SpeechSegment) for p in s.pieces]
    assert [getattr(p, "phonemes", None) or p.text for p in ours] == \
        [getattr(p, "phonemes", None) or p.text for p in theirs]
    words = [p for p in ours if isinstance(p, Pronunciation)]
    assert [text[p.start:p.end] for p in words] == ["Kokoro", "kokoro"]
    respelled = ours[-1]
    assert respelled.text.endswith("said Anne.")
    a, b = respelled.span(len(respelled.text) - 5, len(respelled.text) - 1)
    assert text[a:b] == "Ann"


def test_the_server_file(tmp_path):
    assert load_file(None) == {}
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"Kokoro": "/kˈOkəɹO/", "nginx": "engine x"}), encoding="utf-8")
    assert {e.key for e in load_file(good).values()} == {"Kokoro", "nginx"}
    for name, content in (("list.json", "[1, 2]"), ("broken.json", "{"), ("bad.json", '{"-x": "y"}')):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match="PRONUNCIATIONS_FILE"):
            load_file(path)
    with pytest.raises(ValueError, match="PRONUNCIATIONS_FILE"):
        load_file(tmp_path / "missing.json")


def test_matching_is_linear_in_the_text():
    d = PronunciationDict(entries({f"word{i} tail": "x" for i in range(MAX_REQUEST_ENTRIES)}))
    text = "word1 " * 40_000
    started = time.perf_counter()
    assert list(d.find(text)) == []
    assert time.perf_counter() - started < 2.0
