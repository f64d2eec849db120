"""Sentence splitting and chunk packing: limits, order, nothing dropped, linear time."""
import time

import pytest

from api.src.services.text_processing.chunker import ChunkLimits, fit_tokens, iter_chunks
from api.src.services.text_processing.sentences import split_sentences
from api.src.core.phonemes import PhonemeToken, join_phonemes


def spelled_g2p(text: str) -> list[PhonemeToken]:
    """A stand-in G2P: each word 'phonemizes' to itself, punctuation separate, so coverage is checkable."""
    tokens = []
    for word in text.split():
        core, tail = word.rstrip(".,!?;:"), word[len(word.rstrip(".,!?;:")):]
        if core:
            tokens.append(PhonemeToken(core, core.lower(), "" if tail else " "))
        for i, mark in enumerate(tail):
            tokens.append(PhonemeToken(mark, mark, " " if i == len(tail) - 1 else ""))
    return tokens


def test_split_sentences_keeps_everything():
    text = "Hello there! How are you? Fine.\nNew line here… And CJK。次の文！ no end"
    parts = list(split_sentences(text))
    assert parts == ["Hello there!", "How are you?", "Fine.", "New line here…", "And CJK。", "次の文！", "no end"]
    assert "".join(parts).replace(" ", "") == text.replace(" ", "").replace("\n", "")


def test_decimal_points_do_not_split():
    assert list(split_sentences("It costs 3.50 dollars. Ok.")) == ["It costs 3.50 dollars.", "Ok."]


@pytest.mark.parametrize("limits", [ChunkLimits(), ChunkLimits(20, 40, 60, 80), ChunkLimits(1, 1, 1, 5)])
def test_chunks_respect_limits_and_cover_every_word(limits):
    text = " ".join(f"Word{chr(97 + i % 26)}{chr(97 + i // 26)} alpha beta{',' if i % 3 else '.'}" for i in range(300))
    chunks = list(iter_chunks(text, spelled_g2p, limits))
    assert all(len(c.phonemes) <= limits.absolute_max for c in chunks)
    assert len(chunks[0].phonemes) <= limits.first_max
    def letters(s):
        return "".join(ch for ch in s.lower() if ch.isalnum())
    # in order, nothing lost, nothing repeated (a word cut by a tiny limit spans chunks)
    assert letters("".join(c.phonemes for c in chunks)) == letters(text)


def test_first_chunk_is_the_first_sentence():
    first = "This opening sentence is long enough to be spoken alone."
    text = first + " " + "This is the second sentence with several more words in it. " * 5
    chunks = list(iter_chunks(text, spelled_g2p))
    assert chunks[0].text == first
    assert len(chunks[1].phonemes) <= 2 * len(chunks[0].phonemes)          # the ramp
    unramped = list(iter_chunks(text, spelled_g2p, ChunkLimits(ramp=0)))
    assert unramped[0].text == first and 175 <= len(unramped[1].phonemes) <= 250


def test_a_short_first_sentence_takes_the_next_along():
    chunks = list(iter_chunks("Sure! Your order shipped today. " + "More words follow here. " * 20, spelled_g2p))
    assert chunks[0].text == "Sure! Your order shipped today."
    # the next sentence too long to fit beside it: its head is taken, cut at a clause
    chunks = list(iter_chunks("Hi. " + ", ".join(["one two three four five"] * 12) + ".", spelled_g2p))
    assert chunks[0].text.startswith("Hi. one two") and chunks[0].text.endswith(",")
    assert len(chunks[0].phonemes) <= 100
    # FIRST_CHUNK_MIN_TOKENS=0: the first sentence alone, however short
    assert next(iter_chunks("Sure! Your order shipped today.", spelled_g2p, ChunkLimits(first_min=0))).text == "Sure!"
    # a text shorter than the minimum is one chunk
    assert [c.text for c in iter_chunks("Hi. Yes.", spelled_g2p)] == ["Hi. Yes."]


@pytest.mark.parametrize("ramp", [2.0, 3.0])
def test_chunks_ramp_up_to_the_target(ramp):
    """Each chunk holds at most ramp x the phonemes before it (or first_max), so a player that has the
    earlier chunks' audio is still busy when the next one is ready; then chunks pack to the target."""
    text = " ".join(f"Sentence number {i} tells a short story about the sea." for i in range(60))
    limits = ChunkLimits(ramp=ramp)
    sizes = [len(c.phonemes) for c in iter_chunks(text, spelled_g2p, limits)]
    spoken = sizes[0]
    for size in sizes[1:]:
        assert size <= max(limits.first_max, ramp * spoken)
        spoken += size
    assert sizes[0] <= sizes[1] < sizes[2]
    assert all(limits.target_min <= size <= limits.target_max for size in sizes[4:-1])
    with pytest.raises(ValueError):
        ChunkLimits(ramp=0.5)


def test_long_sentence_is_cut_at_clause_punctuation():
    text = ", ".join(["one two three four five six seven"] * 30) + "."
    chunks = list(iter_chunks(text, spelled_g2p, ChunkLimits(100, 100, 150, 200)))
    assert len(chunks) > 3
    assert all(c.phonemes.endswith((",", ".")) for c in chunks)


def test_giant_word_without_spaces_is_cut_not_dropped():
    word = "a" * 1300
    pieces = list(fit_tokens([PhonemeToken(word, word, "")], 510))
    assert [len(join_phonemes(p)) for p in pieces] == [510, 510, 280]


def test_chunks_without_phonemes_are_skipped():
    def g2p(text):
        return [PhonemeToken(text, "" if "🙂" in text else "ok", "")]
    assert [c.phonemes for c in iter_chunks("🙂. Fine. 🙂.", g2p)] == ["ok"]

    def punctuation_only(text):
        return [PhonemeToken(text, "...", "")]
    assert list(iter_chunks("... !!!", punctuation_only)) == []


def test_invalid_limits():
    with pytest.raises(ValueError):
        ChunkLimits(100, 300, 200, 450)
    with pytest.raises(ValueError):
        ChunkLimits(100, 175, 250, 600)


@pytest.mark.parametrize("text", ["." * 200_000, "a" * 200_000, "a. " * 66_000, "!?" * 100_000, "\n" * 200_000])
def test_splitting_is_linear_on_adversarial_input(text):
    began = time.perf_counter()
    chunks = list(iter_chunks(text, spelled_g2p))
    assert time.perf_counter() - began < 10   # catches quadratic behaviour, nothing finer
    assert all(len(c.phonemes) <= 450 for c in chunks)
