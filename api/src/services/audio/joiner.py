"""Joins a request's chunks so they sound like one take: trimmed edges, pauses by punctuation.

The model pads each chunk with its own lead-in and tail of near-silence; played back to back that
sounds like a hiccup at every join. Each chunk is trimmed to ``margin`` of silence at both edges and
the join gets a pause chosen by how the previous chunk ended (sentence, clause, or mid-sentence).
Everything is counted in whole 25 ms frames, so audio stays a whole number of frames.
"""
from dataclasses import dataclass

import numpy as np

from ...builds.base import SAMPLE_RATE, SAMPLES_PER_FRAME
from ...core.punctuation import CLAUSE_END, SENTENCE_END


@dataclass(frozen=True)
class JoinPolicy:
    trim: bool = True
    threshold: float = 0.01          # |amplitude| below this counts as silence (about -40 dBFS)
    margin_s: float = 0.05           # silence kept at each trimmed edge
    sentence_pause_s: float = 0.25
    clause_pause_s: float = 0.12
    word_pause_s: float = 0.05

    def frames(self, seconds: float) -> int:
        return int(round(seconds * SAMPLE_RATE / SAMPLES_PER_FRAME))

    def pause_after(self, text: str) -> int:
        """Frames of pause to put after a chunk that ends with ``text``."""
        tail = text.rstrip().rstrip("\"'”’)]»")
        if tail.endswith(SENTENCE_END):
            return self.frames(self.sentence_pause_s)
        if tail.endswith(CLAUSE_END):
            return self.frames(self.clause_pause_s)
        return self.frames(self.word_pause_s)

    def trim_bounds(self, audio: np.ndarray) -> tuple[int, int]:
        """Sample range ``[start, end)`` of ``audio`` to keep, on frame boundaries."""
        frames = len(audio) // SAMPLES_PER_FRAME
        if not self.trim or frames == 0:
            return 0, len(audio)
        loud = np.abs(audio[:frames * SAMPLES_PER_FRAME]).reshape(frames, SAMPLES_PER_FRAME).max(axis=1)
        voiced = np.flatnonzero(loud >= self.threshold)
        if voiced.size == 0:
            return 0, len(audio)   # all quiet: keep it rather than guess
        margin = self.frames(self.margin_s)
        first = max(0, int(voiced[0]) - margin)
        last = min(frames, int(voiced[-1]) + 1 + margin)
        end = len(audio) if last == frames else last * SAMPLES_PER_FRAME
        return first * SAMPLES_PER_FRAME, end


def silence(frames_or_samples: int) -> np.ndarray:
    return np.zeros(max(0, frames_or_samples), dtype=np.int16)
