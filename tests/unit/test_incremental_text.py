"""IncrementalText: a text streamed in deltas is cut only where the whole text's reading cannot change,
so the plan of the parts (phonemes, word spans) equals the plan of the whole text, except across the
forced cuts it marks (clause, length, quiet gap, flush)."""
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.src.core.exceptions import InvalidRequest
from api.src.services.text_processing.chunker import ChunkLimits
from api.src.services.text_processing.incremental import IncrementalText, TextPart
from api.src.services.text_processing.mapped_text import MappedText
from api.src.services.text_processing.markup import InlineState, parse_inline, parse_inline_part
from api.src.services.text_processing.pipeline import SpeechChunk, SpeechPlanner, Voicing
from api.src.services.text_processing.segments import shifted
from api.src.structures.normalization import NormalizationOptions


def stream(deltas, **options) -> tuple[list[TextPart], IncrementalText]:
    text = IncrementalText(10_000, **options)
    parts = [p for p in (text.add(d) for d in deltas) if p is not None]
    return parts, text


def cuts(deltas, **options) -> list[str]:
    parts, text = stream(deltas, **options)
    last = text.flush()
    return [p.text for p in parts] + ([last.text] if last else [])


def test_a_sentence_is_spoken_once_the_next_begins():
    parts, text = stream(["Hel", "lo there", ".", " How", " are you"])
    assert [(p.start, p.text, p.forced) for p in parts] == [(0, "Hello there.", False)]
    assert text.buffered == " How are you"
    assert text.flush() == TextPart(12, " How are you", True)
    assert text.flush() is None


@pytest.mark.parametrize("deltas, first", [
    (["It is 3.", "14 cm. ", "Next"], "It is 3.14 cm."),               # a number that grew
    (["Ask Dr", ". Smith. ", "Next"], "Ask Dr. Smith."),               # a title's period
    (["See e.g. this. ", "Next"], "See e.g. this."),
    (["J. R. R. Tolkien wrote. ", "Next"], "J. R. R. Tolkien wrote."),  # initials
    (["Wait [pau", "se:1s] now. ", "Next"], "Wait [pause:1s] now."),      # an open tag
    (["Say [Kokoro. x](/kˈOkəɹO/) twice. ", "Next"], "Say [Kokoro. x](/kˈOkəɹO/) twice."),   # not inside a tag
    (["Hi!\"", " Then"], "Hi!\""),
])
def test_what_may_still_grow_is_held(deltas, first):
    assert cuts(deltas)[0].strip() == first


def test_an_unclosed_tag_waits_through_a_quiet_gap_but_not_a_flush():
    _, text = stream(["Hello [pause:1"])
    assert text.flush(quiet=True) == TextPart(0, "Hello ", True)
    assert text.buffered == "[pause:1"
    assert text.flush() == TextPart(6, "[pause:1", True)


def test_long_sentences_are_cut_at_a_clause_then_at_a_space():
    clause = "This sentence keeps going for quite a while, " * 3
    parts, _ = stream([clause])
    assert parts and parts[0].forced and parts[0].text.endswith(",") and len(parts[0].text) > 40
    words = "word " * 80   # no clause mark at all
    parts, _ = stream([words])
    assert parts and parts[0].forced and len(parts[0].text) <= 400


def test_ssml_is_read_whole():
    parts, text = stream(["<speak>One. Two. ", "Three.</speak>"], whole_only=True)
    assert parts == [] and text.flush().text == "<speak>One. Two. Three.</speak>"


def test_buffered_text_is_bounded():
    text = IncrementalText(20)
    text.add("Short.")
    with pytest.raises(InvalidRequest) as refused:
        text.add("x" * 15)
    assert refused.value.code == "input_too_long"


def test_a_long_stream_of_tiny_deltas_costs_linear_time():
    hostile = ["[", "a"] * 20_000 + ["```\n"] + ["b"] * 20_000
    start = time.perf_counter()
    parts, text = stream(hostile)
    took = time.perf_counter() - start
    assert "".join(p.text for p in parts) + text.buffered == "".join(hostile)
    assert took < 5, took


# -- the property: parts read as the whole --------------------------------------------------------------
WORDS = ["Hello", "there", "Dr.", "Smith", "3.14", "$5", "e.g.", "it's", "U.S.", "ok", "the", "end", "café",
         "[pause:0.5s]", "[Kokoro](/kˈOkəɹO/)", "42", "1st", "well", "—", ",", "(see", "this)", "\"quoted\"",
         "www.example.com", "and", "a"]
ENDS = [".", "!", "?", "...", "", ".\"", "\n", ".\n\n"]


@st.composite
def texts(draw):
    sentences = []
    for _ in range(draw(st.integers(1, 5))):
        words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=9))
        sentences.append(" ".join(words) + draw(st.sampled_from(ENDS)))
    return " ".join(sentences)


@st.composite
def splits(draw, text):
    points = sorted(draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=len(text) // 2)))
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


class _WordG2P:
    """A G2P whose output depends on the sentence as a whole (its length) as well as each word, so a
    cut that the whole text would not make shows in the phonemes."""

    def __call__(self, text: str):
        from api.src.core.phonemes import PhonemeToken

        words = text.split()
        return [PhonemeToken(w, f"{w.lower()}{len(words)}", " ") for w in words]


def planned(parts: list[tuple[int, str]]) -> list[tuple[str, str, int, int]]:
    """The words (text, phonemes, span) of planning each part as its own input, spans in stream terms.
    Punctuation-only tokens are left out: a part of nothing but punctuation ("—.") has nothing to say and
    is not spoken, while the same marks inside a whole text ride along in a chunk, silent."""
    from api.src.services.text_processing.normalizer import normalize_text

    voicing = Voicing("af", None, 1.0, _WordG2P(), True)
    planner = SpeechPlanner(ChunkLimits(100, 175, 250, 450, 20, 2.0),
                            lambda t: normalize_text(t, NormalizationOptions()))
    state, tokens = InlineState(), []
    for start, text in parts:
        segments, state = parse_inline_part(text, state, allow_voice_tags=True, max_pause_s=10)
        for item in planner.plan(shifted(segments, start), lambda _: voicing):
            if isinstance(item, SpeechChunk):
                tokens += [(t.text, t.phonemes, t.start, t.end) for t in item.chunk.tokens
                           if any(c.isalpha() for c in t.phonemes)]
    return tokens


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_streamed_parts_read_as_the_whole_text(data):
    text = data.draw(texts())
    deltas = data.draw(splits(text))
    parts, incremental = stream(deltas)
    last = incremental.flush()
    parts += [last] if last else []
    assert "".join(p.text for p in parts) == text
    # the whole text, cut only where the stream forced a cut: each forced part ends a group read alone
    groups, start = [], 0
    for part in parts:
        if part.forced:
            end = part.start + len(part.text)
            groups.append((start, text[start:end]))
            start = end
    if start < len(text):
        groups.append((start, text[start:]))
    assert planned([(p.start, p.text) for p in parts]) == planned(groups)


def test_the_property_sees_a_bad_cut():
    """The property's G2P tells a cut sentence from a whole one (the test above can fail)."""
    whole = planned([(0, "Ask Dr. Smith now.")])
    assert planned([(0, "Ask Dr."), (7, " Smith now.")]) != whole
    assert [t[2:] for t in whole] == [(0, 3), (4, 7), (8, 13), (14, 18)]


def test_spans_point_into_the_stream():
    segments, state = parse_inline_part("[voice:af_sky]Hi there.", InlineState(), allow_voice_tags=True,
                                        max_pause_s=10)
    assert state == InlineState("af_sky", None)
    more, _ = parse_inline_part("Again.", state, allow_voice_tags=True, max_pause_s=10)
    assert more[0].voice == "af_sky"
    (piece,) = shifted(more, 100)[0].pieces
    assert isinstance(piece, MappedText) and piece.starts[0] == 100
    assert parse_inline("Again.", allow_voice_tags=True, max_pause_s=10)[0].voice is None
