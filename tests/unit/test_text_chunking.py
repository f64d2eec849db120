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
    text = "Hi. " + "This is the second sentence with several more words in it. " * 5
    chunks = list(iter_chunks(text, spelled_g2p))
    assert chunks[0].text == "Hi."
    assert 175 <= len(chunks[1].phonemes) <= 250


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
