"""The text pipeline's pure parts: planning with spans, word timings, chunk joins, the chunk cache."""
import numpy as np
import pytest
import torch

from api.src.inference.backend import ChunkOutput
from api.src.services.audio.joiner import JoinPolicy
from api.src.services.captions import token_id_ranges, word_timings
from api.src.inference.chunk_cache import ChunkCache
from api.src.services.text_processing.chunker import ChunkLimits
from api.src.services.text_processing.mapped_text import MappedText
from api.src.services.text_processing.pipeline import Pause, SpeechChunk, SpeechPlanner, Voicing, locate_tokens
from api.src.services.text_processing.segments import PauseSegment, Pronunciation, SpeechSegment
from api.src.core.phonemes import PhonemeToken

VOCAB = {c: i + 1 for i, c in enumerate(" abcdefghijklmnopqrstuvwxyz.,!?")}


def spelled_g2p(text):
    """Each word 'phonemizes' to its lower-case letters; punctuation becomes its own token."""
    tokens = []
    for word in text.split():
        core = word.rstrip(".,!?")
        if core:
            tokens.append(PhonemeToken(core, "".join(c for c in core.lower() if c.isalpha()),
                                       " " if core == word else ""))
        for i, mark in enumerate(word[len(core):]):
            tokens.append(PhonemeToken(mark, mark, " " if i == len(word) - len(core) - 1 else ""))
    return tokens


def voicing(g2p=spelled_g2p, english=False):
    return Voicing("af_test", torch.zeros(510, 1, 256), 1.0, g2p, english)


def test_locate_tokens_maps_words_back_through_a_rewrite():
    original = "I paid $5 today."
    text = MappedText.of(original).sub(r"\$5", "five dollars")
    tokens = locate_tokens(spelled_g2p(text.text), text)
    spans = {t.text: original[t.start:t.end] for t in tokens}
    assert spans["five"] == "$5" and spans["dollars"] == "$5"
    assert spans["paid"] == "paid" and spans["today"] == "today"


def test_plan_keeps_order_spans_voices_and_pauses():
    original = "Hello there. [pause:1s] Second part, spoken [Kokoro](/kokoro/) fast."
    v1, v2 = voicing(), voicing()
    segments = [
        SpeechSegment([MappedText.of(original[:12], 0)]),
        PauseSegment(1.0, 13, 23),
        SpeechSegment([MappedText.of(original[24:44], 24), Pronunciation("Kokoro", "kokoro", 45, 51),
                       MappedText.of(original[61:], 61)], voice="other"),
    ]
    voicings = {None: v1, "other": v2}
    plan = list(SpeechPlanner(ChunkLimits(100, 175, 250, 450)).plan(segments, lambda s: voicings[s.voice]))
    kinds = [type(item) for item in plan]
    assert kinds == [SpeechChunk, Pause, SpeechChunk]
    assert plan[0].voicing is v1 and plan[2].voicing is v2 and plan[1].seconds == 1.0
    words = [t for item in plan if isinstance(item, SpeechChunk) for t in item.chunk.tokens if t.text.isalpha()]
    assert [original[t.start:t.end] for t in words] == [t.text for t in words]
    assert [t.text for t in words] == ["Hello", "there", "Second", "part", "spoken", "Kokoro", "fast"]
    assert "kokoro" in plan[2].chunk.phonemes


@pytest.mark.parametrize("ramp", [0, 2])
def test_only_the_first_chunk_of_the_request_is_short(ramp):
    text = " ".join(["word"] * 200) + "."
    segments = [SpeechSegment([MappedText.of(text)]), SpeechSegment([MappedText.of(text)], voice="b")]
    plan = list(SpeechPlanner(ChunkLimits(20, 60, 80, 100, ramp=ramp)).plan(segments, lambda s: voicing()))
    sizes = [len(item.chunk.phonemes) for item in plan]
    assert sizes[0] <= 20
    second_segment = next(i for i, item in enumerate(plan) if item.voicing is not plan[0].voicing)
    assert sizes[second_segment] > 20   # the request's later segments are not "first" again
    if not ramp:
        assert all(s > 20 for s in sizes[1:-1])
    else:   # the ramp carries across segments: the phonemes before count, whatever segment they were in
        assert sizes[1] <= 2 * sizes[0] < sizes[2]


def test_normalizer_only_for_english():
    segments = [SpeechSegment([MappedText.of("abc")])]
    calls = []

    def normalize(text):
        calls.append(text.text)
        return text
    SpeechPlanner(ChunkLimits(), normalize).plan(segments, lambda s: voicing(english=False)).__next__()
    assert calls == []
    next(SpeechPlanner(ChunkLimits(), normalize).plan(segments, lambda s: voicing(english=True)))
    assert calls == ["abc"]


def test_token_id_ranges_follow_the_joined_phonemes():
    tokens = [PhonemeToken("Hi", "hi", " "), PhonemeToken("there", "there", ""), PhonemeToken("!", "!", "")]
    ranges = token_id_ranges(tokens, VOCAB)
    # "hi there!" -> ids h i _ t h e r e !
    assert ranges == [(0, 2), (3, 8), (8, 9)]
    # a symbol outside the vocab takes no id
    assert token_id_ranges([PhonemeToken("x", "hˈi", "")], VOCAB) == [(0, 2)]


def test_word_timings_from_durations_trimmed_and_offset():
    tokens = [PhonemeToken("Hi", "hi", " ", 0, 2), PhonemeToken("there", "there", "", 3, 8),
              PhonemeToken("!", "!", "", 8, 9)]
    dur = np.array([2, 1, 1, 3, 1, 1, 1, 1, 1, 1, 4])   # BOS, 9 ids, EOS
    words = word_timings(tokens, VOCAB, dur, offset_s=1.0, trim_start=600, kept=600 * 15)
    assert [w.word for w in words] == ["Hi", "there"]
    hi, there = words
    assert hi.start_time == pytest.approx(1.0 + (2 * 600 - 600) / 24000)
    assert hi.end_time == pytest.approx(1.0 + (4 * 600 - 600) / 24000)
    assert there.start_time == pytest.approx(1.0 + (7 * 600 - 600) / 24000)
    assert (hi.text_start, hi.text_end, there.text_start, there.text_end) == (0, 2, 3, 8)


def test_join_policy_trims_to_margin_and_pauses_by_punctuation():
    policy = JoinPolicy(threshold=0.01, margin_s=0.05)
    audio = np.zeros(600 * 20, dtype=np.float32)
    audio[600 * 5:600 * 10] = 0.5
    start, end = policy.trim_bounds(audio)
    assert (start, end) == (600 * 3, 600 * 12)
    assert policy.trim_bounds(np.zeros(6000, np.float32)) == (0, 6000)
    assert JoinPolicy(trim=False).trim_bounds(audio) == (0, len(audio))
    assert policy.pause_after("The end.") == 10 and policy.pause_after("a clause,") == 5
    assert policy.pause_after('He said "stop!"') == 10 and policy.pause_after("no mark") == 2


def test_chunk_cache_is_an_lru_bounded_by_bytes():
    def out(n):
        return ChunkOutput(np.zeros(n, np.float32), np.zeros(3, np.int64))
    pack = torch.ones(510, 1, 256)
    cache = ChunkCache(max_bytes=3 * (4000 + 24))
    keys = [cache.key("v1_0", f"p{i}", pack, 1.0, None) for i in range(4)]
    for k in keys[:3]:
        cache.put(k, out(1000))
    assert cache.get(keys[0]) is not None      # now the most recent
    cache.put(keys[3], out(1000))
    assert cache.get(keys[1]) is None and cache.get(keys[0]) is not None and len(cache) == 3
    assert cache.size_bytes <= cache.max_bytes
    # another pack's content, speed or seed is another key
    assert cache.key("v1_0", "p0", pack * 2, 1.0, None) != keys[0]
    assert cache.key("v1_0", "p0", pack, 1.0, 7) != keys[0]
    off = ChunkCache(0)
    off.put(keys[0], out(10))
    assert off.get(keys[0]) is None


def test_a_pronunciation_stays_inside_its_sentence():
    original = "Say [Kokoro](/kokoro/) now. Next one."
    segments = [SpeechSegment([MappedText.of("Say ", 0), Pronunciation("Kokoro", "kokoro", 5, 11),
                               MappedText.of(" now. Next one.", 22)])]
    sentences = list(SpeechPlanner(ChunkLimits())._sentences(segments[0], voicing()))
    assert [[t.text for t in s] for s in sentences] == [["Say", "Kokoro", "now", "."], ["Next", "one", "."]]
    assert original[sentences[0][2].start:sentences[0][2].end] == "now"
