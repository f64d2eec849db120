"""Word timestamps from the model's predicted durations, mapped to the user's original text."""
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import numpy as np

from ..builds.base import SAMPLE_RATE, SAMPLES_PER_FRAME
from ..core.phonemes import PhonemeToken


@dataclass(frozen=True)
class WordTiming:
    word: str
    start_time: float    # seconds from the start of the whole audio
    end_time: float
    text_start: int      # span of the original input the word came from
    text_end: int

    def as_dict(self) -> dict:
        return asdict(self)


def token_id_ranges(tokens: Sequence[PhonemeToken], vocab: Mapping[str, int]) -> list[tuple[int, int]]:
    """For each token, the ``[first, last)`` positions of its ids in the chunk's id sequence.

    Mirrors ``join_phonemes`` (a space after each word that had one, the ends stripped) and
    ``KokoroBackend.token_ids`` (symbols outside the vocab dropped).
    """
    pieces = [t.phonemes + (" " if t.whitespace else "") for t in tokens]
    joined = "".join(pieces)
    lead = len(joined) - len(joined.lstrip())
    ids_before = np.concatenate([[0], np.cumsum([c in vocab for c in joined])]).astype(int)
    lead_ids = int(ids_before[lead])
    ranges, pos = [], 0
    for token, piece in zip(tokens, pieces, strict=True):
        a, b = pos, pos + len(token.phonemes)
        ranges.append((int(ids_before[a]) - lead_ids, int(ids_before[b]) - lead_ids))
        pos += len(piece)
    return ranges


def word_timings(tokens: Sequence[PhonemeToken], vocab: Mapping[str, int], pred_dur: np.ndarray,
                 offset_s: float, trim_start: int, kept: int) -> list[WordTiming]:
    """Timings of a chunk's words; ``pred_dur`` has one entry per id plus BOS and EOS.

    The chunk's audio was trimmed to samples ``[trim_start, trim_start + kept)`` and placed at
    ``offset_s`` in the whole audio; times are clipped into that window. Punctuation is skipped.
    """
    frames_before = np.concatenate([[0], np.cumsum(pred_dur)])
    last_id = len(pred_dur) - 2
    out = []
    for token, (first, last) in zip(tokens, token_id_ranges(tokens, vocab), strict=True):
        if last <= first or not any(ch.isalnum() for ch in token.text):
            continue
        first, last = min(first, last_id), min(last, last_id)
        start = int(frames_before[1 + first]) * SAMPLES_PER_FRAME - trim_start
        end = int(frames_before[1 + last]) * SAMPLES_PER_FRAME - trim_start
        start, end = min(max(start, 0), kept), min(max(end, 0), kept)
        out.append(WordTiming(token.text, round(offset_s + start / SAMPLE_RATE, 4),
                              round(offset_s + end / SAMPLE_RATE, 4), token.start, token.end))
    return out
