"""SSML subset: each element, offsets back to the original input, refusals, linear time."""
import re
import time

import pytest

from api.src.http.errors import http_error
from api.src.core.exceptions import InvalidRequest
from api.src.services.text_processing.mapped_text import MappedText
from api.src.services.text_processing.segments import PauseSegment, Pronunciation, SpeechSegment
from api.src.services.text_processing.ssml import SUPPORTED, parse_ssml


def parse(text, max_pause_s=10.0, **kwargs):
    return parse_ssml(text, max_pause_s=max_pause_s, **kwargs)


def pieces(segments):
    return [p for s in segments if isinstance(s, SpeechSegment) for p in s.pieces]


def spoken(segments):
    return "".join(p.text for p in pieces(segments))


def words_slice_back(original, segments, synthetic=()):
    """Each word of each piece, sliced from the original by its span, reads the same (except the
    ``synthetic`` ones, spoken substitutes, which must slice to what they stand for)."""
    count = 0
    for piece in pieces(segments):
        if isinstance(piece, Pronunciation):
            assert original[piece.start:piece.end] == piece.text
            count += 1
            continue
        for word in re.finditer(r"\S+", piece.text):
            start, end = piece.span(word.start(), word.end())
            if word.group(0) in dict(synthetic):
                assert original[start:end] == dict(synthetic)[word.group(0)]
            else:
                assert original[start:end] == word.group(0)
            count += 1
    return count


def refusal(text, **kwargs):
    with pytest.raises(InvalidRequest) as info:
        parse(text, **kwargs)
    error = info.value
    assert (http_error(error).status_code, error.param, error.code) == (400, "input", "invalid_ssml")
    return error


def test_speak_root_and_offsets():
    text = "<speak>Hello world</speak>"
    assert parse(text) == [SpeechSegment([MappedText.of("Hello world", 7)])]


def test_without_speak_root_offsets_are_of_the_original():
    text = "Hello <break time='1s'/> world"
    segments = parse(text)
    assert segments == [SpeechSegment([MappedText.of("Hello ", 0)]), PauseSegment(1.0, 6, 24),
                        SpeechSegment([MappedText.of(" world", 24)])]
    assert text[6:24] == "<break time='1s'/>"


def test_xml_declaration_is_accepted_and_utf8_is_assumed():
    text = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<speak>Café</speak>'
    segments = parse(text)
    assert spoken(segments).strip() == "Café"
    words_slice_back(text, segments)


def test_multi_element_document_with_non_ascii_slices_back_exactly():
    text = ('<?xml version="1.0"?><speak version="1.0" xml:lang="fr">Café crème, <prosody rate="fast">日本 '
            'の 😀 émoji</prosody>\n  <voice name="jf_alpha"><s>日本語です。</s><s>naïve 👍🏽 done</s></voice>'
            '<break strength="weak"/><p><sub alias="World Wide Web">WWW</sub> <say-as interpret-as="characters">'
            'ÀB</say-as> <phoneme alphabet="ipa" ph="kˈOkəɹO">Kökoro</phoneme> 🎉</p></speak>')
    segments = parse(text)
    assert words_slice_back(text, segments, synthetic=[("World", "WWW"), ("Wide", "WWW"), ("Web", "WWW")]) == 16
    expected = ["Café", "crème,", "日本", "の", "😀", "émoji", "日本語です。", "naïve", "👍🏽", "done",
                "World", "Wide", "Web", "ÀB", "Kökoro", "🎉"]
    assert re.findall(r"\S+", " ".join(p.text for p in pieces(segments))) == expected
    for piece in pieces(segments):
        if isinstance(piece, MappedText):
            for ch, start, end in zip(piece.text, piece.starts, piece.ends):
                assert text[start:end] == ch or (start, end) == (text.index("WWW"), text.index("WWW") + 3)


def test_entities_expand_and_map_to_their_raw_span():
    text = "<speak>Tom &amp; Jerry &lt;3 &#233;t&#xE9;\r\nnext</speak>"
    (segment,) = parse(text)
    (piece,) = segment.pieces
    assert piece.text == "Tom & Jerry <3 été\nnext"
    raw = [text[s:e] for s, e in zip(piece.starts, piece.ends)]
    assert raw[4] == "&amp;" and raw[12] == "&lt;" and raw[15:18] == ["&#233;", "t", "&#xE9;"]
    assert raw[18] == "\r\n"
    words_slice_back(text, [segment], synthetic=[("&", "&amp;"), ("<3", "&lt;3"), ("été", "&#233;t&#xE9;")])


def test_cdata_is_text():
    text = "<speak><![CDATA[a < b]]> c</speak>"
    segments = parse(text)
    assert spoken(segments) == "a < b c"
    words_slice_back(text, segments)


def test_comments_and_processing_instructions_are_skipped():
    text = "<speak>one <!-- hidden -->two<?pi x?> three</speak>"
    segments = parse(text)
    assert spoken(segments) == "one two three"
    words_slice_back(text, segments)


@pytest.mark.parametrize("attrs, seconds", [('time="500ms"', 0.5), ('time="1.5s"', 1.5), ("time=' 2 s '", 2.0),
                                            ('strength="none"', 0.0), ('strength="x-weak"', 0.1),
                                            ('strength="weak"', 0.2), ('strength="medium"', 0.4),
                                            ('strength="strong"', 0.7), ('strength="x-strong"', 1.0),
                                            ("", 0.4), ('time="300ms" strength="x-strong"', 0.3)])
def test_break(attrs, seconds):
    text = f"<speak>a<break {attrs}/>b</speak>"
    segments = parse(text)
    assert segments[1].seconds == pytest.approx(seconds)
    assert text[segments[1].start:segments[1].end] == f"<break {attrs}/>"


def test_break_is_capped():
    assert parse('<speak>a<break time="60s"/>b</speak>', max_pause_s=2.5)[1].seconds == 2.5


@pytest.mark.parametrize("attrs", ['time="2"', 'time="-1s"', 'time="abc"', 'time="1.5h"', 'time=""',
                                   'strength="loud"', 'time="1e3ms"'])
def test_bad_break_is_refused(attrs):
    assert "break" in refusal(f"<speak>a<break {attrs}/>b</speak>").message


def test_break_with_content_is_refused():
    assert "empty" in refusal("<speak><break>words</break></speak>").message


@pytest.mark.parametrize("rate, expected", [("x-slow", 0.5), ("slow", 0.75), ("medium", None), ("fast", 1.25),
                                            ("x-fast", 1.5), ("120%", 1.2), ("0.8", 0.8), ("4", 4.0)])
def test_prosody_rate(rate, expected):
    segments = parse(f'<speak>a <prosody rate="{rate}">b</prosody> c</speak>')
    rates = [(spoken([s]).strip(), s.rate) for s in segments]
    if expected is None:
        assert rates == [("a b c", None)]
    else:
        assert rates[1] == ("b", pytest.approx(expected)) and rates[0][1] is None and rates[2][1] is None


def test_nested_prosody_multiplies_and_restores():
    text = '<speak><prosody rate="fast">a <prosody rate="50%">b</prosody> c</prosody> d</speak>'
    assert [(spoken([s]).strip(), s.rate) for s in parse(text)] == [
        ("a", 1.25), ("b", 0.625), ("c", 1.25), ("d", None)]


def test_prosody_without_rate_changes_nothing():
    assert [s.rate for s in parse('<speak>a <prosody pitch="high">b</prosody></speak>')] == [None]


@pytest.mark.parametrize("rate", ["0", "0%", "-1", "500%", "fastest", "", "1,2"])
def test_bad_rate_is_refused(rate):
    assert "rate" in refusal(f'<speak><prosody rate="{rate}">x</prosody></speak>').message


def test_voice_nests_and_restores():
    text = ('<speak>a <voice name="af_bella(2)+af_sky(1)">b <voice name="nova">c</voice> d</voice> e</speak>')
    assert [(spoken([s]).strip(), s.voice) for s in parse(text)] == [
        ("a", None), ("b", "af_bella(2)+af_sky(1)"), ("c", "nova"), ("d", "af_bella(2)+af_sky(1)"), ("e", None)]


def test_voice_and_prosody_combine():
    text = '<speak><voice name="bf_emma"><prosody rate="slow">x</prosody></voice></speak>'
    assert [(s.voice, s.rate) for s in parse(text)] == [("bf_emma", 0.75)]


def test_voice_needs_a_name():
    assert "name" in refusal('<speak><voice gender="female">x</voice></speak>').message


def test_phoneme_is_a_pronunciation_of_its_text():
    text = '<speak>Say <phoneme alphabet="ipa" ph="kˈOkəɹO"> Kokoro </phoneme>!</speak>'
    segments = parse(text)
    before, word, after = segments[0].pieces
    assert word == Pronunciation("Kokoro", "kˈOkəɹO", text.index("Kokoro"), text.index("Kokoro") + 6)
    assert (before.text, after.text) == ("Say ", "!")


def test_phoneme_alphabet_may_be_omitted():
    (segment,) = parse('<speak><phoneme ph="tə">to</phoneme></speak>')
    assert segment.pieces[0].phonemes == "tə"


@pytest.mark.parametrize("element", ['<phoneme alphabet="x-sampa" ph="t@">to</phoneme>',
                                     '<phoneme alphabet="ipa">to</phoneme>',
                                     '<phoneme ph="tə"></phoneme>',
                                     '<phoneme ph="tə">a<s>b</s></phoneme>'])
def test_bad_phoneme_is_refused(element):
    assert "phoneme" in refusal(f"<speak>{element}</speak>").message


def test_sub_speaks_the_alias_mapped_to_the_content():
    text = '<speak>the <sub alias="World Wide Web">WWW</sub> site</speak>'
    (segment,) = parse(text)
    (piece,) = segment.pieces
    assert piece.text == "the World Wide Web site"
    at = text.index("WWW")
    start, end = piece.span(4, 18)
    assert text[start:end] == "WWW" and (start, end) == (at, at + 3)
    words_slice_back(text, [segment], synthetic=[("World", "WWW"), ("Wide", "WWW"), ("Web", "WWW")])


def test_empty_sub_maps_to_the_element():
    text = '<speak>a <sub alias="b"/></speak>'
    (piece,) = parse(text)[0].pieces
    start, end = piece.span(2, 3)
    assert text[start:end] == '<sub alias="b"/>'


@pytest.mark.parametrize("element", ['<sub>WWW</sub>', '<sub alias="x">a<break/></sub>'])
def test_bad_sub_is_refused(element):
    assert "sub" in refusal(f"<speak>{element}</speak>").message


def test_say_as_speaks_its_text():
    text = '<speak>Call <say-as interpret-as="telephone">555-0100</say-as> now</speak>'
    segments = parse(text)
    assert spoken(segments) == "Call 555-0100 now"
    words_slice_back(text, segments)


def test_p_and_s_are_piece_boundaries():
    text = "<speak>intro <p><s>First one</s><s>second one</s></p>tail</speak>"
    (segment,) = parse(text)
    assert [p.text for p in segment.pieces] == ["intro ", "First one", "second one", "tail"]
    words_slice_back(text, [segment])


def test_whitespace_only_segments_are_omitted():
    text = '<speak>\n  <break time="1s"/>\n  <voice name="x">  </voice>\n</speak>\n'
    assert [type(s) for s in parse(text)] == [PauseSegment]


@pytest.mark.parametrize("element", ["audio", "emphasis", "mark", "ssml:speak", "lang"])
def test_unknown_element_is_refused_listing_the_supported(element):
    message = refusal(f"<speak>a <{element}>b</{element}></speak>").message
    assert f"<{element}>" in message and all(name in message for name in SUPPORTED)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<speak>&lol4;</speak>"""


@pytest.mark.parametrize("text", [
    BILLION_LAUGHS,
    '<!DOCTYPE speak SYSTEM "http://example.com/speak.dtd"><speak>x</speak>',
    '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY ext SYSTEM "file:///etc/passwd">]><speak>&ext;</speak>',
    '<!DOCTYPE speak [<!ENTITY % p SYSTEM "http://example.com/p.dtd"> %p;]><speak>x</speak>',
])
def test_dtds_and_entities_are_refused(text):
    assert "DTD" in refusal(text).message


def test_undeclared_entity_is_malformed():
    assert "undefined entity" in refusal("<speak>&ext;</speak>").message


def test_too_deep_is_refused():
    ok = "<speak>" + "<s>" * 31 + "x" + "</s>" * 31 + "</speak>"
    assert spoken(parse(ok)) == "x"
    deeper = "<speak>" + "<s>" * 32 + "x" + "</s>" * 32 + "</speak>"
    assert "deeper than 32" in refusal(deeper).message
    assert "deeper than 3" in refusal("<speak><s><s><s>x</s></s></s></speak>", max_depth=3).message


@pytest.mark.parametrize("text, line, column", [
    ("<speak>a</speek>", 1, 11),                                # at the bad name
    ("<speak>\nline two <break time='1s'>\n</speak>", 3, 3),
    ("<speak>\n  é <b", 2, 7),                                 # the end of the input
    ("<speak>a", 1, 9),
    ("a < b", 1, 4),                                           # after the lone "<"
])
def test_malformed_reports_line_and_column_of_the_original(text, line, column):
    message = refusal(text).message
    assert message.startswith("malformed SSML") and f"line {line}, column {column}" in message


def test_lone_surrogate_is_malformed_not_a_crash():
    assert refusal("<speak>\ud800</speak>").message.startswith("malformed SSML")


def test_no_text_dropped():
    text = ('<speak>alpha <prosody rate="slow">beta <voice name="v">gamma</voice></prosody> delta'
            '<break/> epsilon <s>zeta</s> eta <say-as interpret-as="x">theta</say-as></speak>')
    assert re.findall(r"\S+", " ".join(p.text for p in pieces(parse(text)))) == [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


ADVERSARIAL = {
    "open angles": ("<" * 200_000, True),
    "ampersands": ("&" * 200_000, True),
    "deep nesting": ("<s>" * 66_000, True),
    "unclosed tag": ("<speak " + "a" * 199_990, True),
    "50k breaks": ("<speak>" + "<break/>" * 50_000 + "</speak>", False),
    "lines": ("a\n" * 100_000, False),
    "entities": ("&amp;" * 40_000, False),
    "crlf": ("x\r\n" * 66_000, False),
    "non-ascii sentences": ("<speak>" + "<s>日本 é😀</s>" * 14_000 + "</speak>", False),
    "long sub": ("<sub alias='x'>" + "w\n" * 99_990 + "</sub>", False),
}


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_input_is_fast(name):
    text, refused = ADVERSARIAL[name]
    began = time.perf_counter()
    try:
        segments = parse(text)
        outcome = bool(segments)
    except InvalidRequest:
        outcome = "refused"
    elapsed = time.perf_counter() - began
    assert elapsed < 2.0, f"{name}: {elapsed:.2f}s"
    assert outcome == ("refused" if refused else True)


@pytest.mark.parametrize("text", [
    '<?xml version="1.0"?>\n<!-- a comment first -->\n<!DOCTYPE speak><speak>x</speak>',
    '  \n<!DOCTYPE speak [<!ELEMENT speak ANY>]><speak>x</speak>',
])
def test_a_dtd_anywhere_in_the_prolog_is_refused_by_the_parser(text):
    assert "DTD" in refusal(text).message


@pytest.mark.parametrize("text", ['<!doctype speak><speak>x</speak>', '<!DocType speak><speak>x</speak>'])
def test_other_spellings_are_malformed_xml(text):
    refusal(text)


def test_the_letters_of_a_doctype_in_a_comment_or_cdata_are_just_text():
    for text in ("<speak><!-- <!DOCTYPE x> -->Hello.</speak>", "<speak><![CDATA[<!DOCTYPE x>]]> Hello.</speak>"):
        assert parse(text)
