"""No text is silently dropped: through normalization, the real G2P and chunking, every speakable word of
long mixed inputs is covered by some chunk's phonemes (found through the tokens' spans)."""
import re

import pytest

from api.src.services.text_processing.chunker import ChunkLimits
from api.src.services.text_processing.markup import parse_inline
from api.src.services.text_processing.normalizer import normalize_text
from api.src.services.text_processing.pipeline import SpeechChunk, SpeechPlanner, Voicing

CHAPTER = "\n\n".join(
    f"Chapter {n}. The keeper climbed the {n * 17} steps of the lighthouse at 6:30pm, as he had done since "
    f"1987; the lamp (a Fresnel lens, made in Paris) needed oil, wicks and patience. \"Who's there?\" he "
    f"called — nobody answered. He wrote to jane.doe@example.com and paid $12.50 for supplies, about "
    f"{n * 3}% more than last year… Then he slept."
    for n in range(1, 25))
LISTS = "Shopping list:\n1. Buy milk\n2. Fetch bread\n- apples\n- pears\n* Call Dr. Smith at (555) 123-4567\n"
CODE = "def scale(values, factor=2):\n    return [v * factor for v in values if v > 0]  # keep positives\n"
EMOJI = "Great job 🎉🎉 see you soon 👋 okay 😀 bye"
NO_PUNCTUATION = " ".join(["the river runs past the mill and under the old stone bridge"] * 120)
TEXTS = {"chapter": CHAPTER, "lists": LISTS, "code": CODE, "emoji": EMOJI, "no_punctuation": NO_PUNCTUATION,
         "mixed": CHAPTER[:2000] + LISTS + CODE + EMOJI + NO_PUNCTUATION[:3000]}


@pytest.fixture(scope="module")
def english():
    from api.src.builds.v1_0.g2p import make_g2p
    return make_g2p("a")


@pytest.fixture(scope="module")
def espeak_v0_19():
    from api.src.builds.v0_19.g2p import make_g2p
    return make_g2p("a")


@pytest.mark.parametrize("g2p_name", ["english", "espeak_v0_19"])
@pytest.mark.parametrize("name", sorted(TEXTS))
def test_every_speakable_word_reaches_a_chunk(name, g2p_name, request):
    g2p = request.getfixturevalue(g2p_name)
    text = TEXTS[name]
    limits = ChunkLimits(100, 175, 250, 450)
    voicing = Voicing("af_heart", None, 1.0, g2p, True)
    plan = list(SpeechPlanner(limits, normalize_text).plan(
        parse_inline(text, allow_voice_tags=False, max_pause_s=10), lambda segment: voicing))
    chunks = [item.chunk for item in plan if isinstance(item, SpeechChunk)]
    assert all(len(c.phonemes) <= limits.absolute_max for c in chunks)
    spoken = [(t.start, t.end) for c in chunks for t in c.tokens if any(ch.isalpha() for ch in t.phonemes)]
    covered = bytearray(len(text))
    for start, end in spoken:
        covered[max(start, 0):max(end, 0)] = b"\x01" * (max(end, 0) - max(start, 0))
    missing = [m.group() for m in re.finditer(r"[A-Za-z]+", text) if not any(covered[m.start():m.end()])]
    assert not missing, f"{len(missing)} words never spoken, e.g. {missing[:10]}"
