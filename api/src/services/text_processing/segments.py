"""What markup parsing (inline tags, SSML) hands to the rest of the text pipeline.

An input becomes an ordered list of segments: stretches of speech, each with the voice and pace it is
spoken in, and pauses of an exact length. Speech is a list of pieces: text to normalize and phonemize
(with its map back to the original input), or a word whose phonemes the user gave.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from .mapped_text import MappedText


@dataclass(frozen=True)
class Pronunciation:
    """A word spoken with the phonemes the user wrote (``[Kokoro](/kˈOkəɹO/)``, SSML ``<phoneme>``)."""

    text: str       # the word as written, for captions
    phonemes: str
    start: int      # its span in the original input
    end: int


Piece = Union[MappedText, Pronunciation]


@dataclass
class SpeechSegment:
    """Speech in one voice at one pace.

    ``voice`` is a voice spec as the request's ``voice`` field takes it (a name, an OpenAI name, a mix,
    or a per-request alias); None means the request's own voice. ``rate`` multiplies the request's
    ``speed`` (None: 1); the product is clamped to the model's 0.25–4.
    """

    pieces: list[Piece] = field(default_factory=list)
    voice: Optional[str] = None
    rate: Optional[float] = None


@dataclass(frozen=True)
class PauseSegment:
    """Exact silence, already capped by the server's MAX_PAUSE_S."""

    seconds: float
    start: int = 0    # the span of the tag in the original input
    end: int = 0


Segment = Union[SpeechSegment, PauseSegment]


def shifted(segments: list[Segment], offset: int) -> list[Segment]:
    """``segments`` of a text that starts at ``offset`` of a longer one, with spans in the longer one's
    terms (a part of a text streamed in parts: captions point into the whole stream)."""
    if not offset:
        return segments

    def piece(p: Piece) -> Piece:
        if isinstance(p, Pronunciation):
            return Pronunciation(p.text, p.phonemes, p.start + offset, p.end + offset)
        return MappedText(p.text, tuple(i + offset for i in p.starts), tuple(i + offset for i in p.ends))

    return [PauseSegment(s.seconds, s.start + offset, s.end + offset) if isinstance(s, PauseSegment)
            else SpeechSegment([piece(p) for p in s.pieces], s.voice, s.rate) for s in segments]
