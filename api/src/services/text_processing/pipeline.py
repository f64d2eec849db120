"""From parsed segments to the ordered plan a request is spoken from: model-sized chunks and pauses.

Per speech segment: each text piece is normalized (English only), split into sentences and
phonemized; a user-given pronunciation becomes one token as written; the tokens are packed into
chunks. Every token keeps the span of the original input it came from, so captions point at what
the user wrote. The plan is a lazy iterator: the first chunk is ready before the rest is phonemized.
"""
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

from ...core.phonemes import G2P, PhonemeToken
from ...core.punctuation import CLOSED_SENTENCE_END
from .chunker import ChunkLimits, TextChunk, pack_sentences
from .mapped_text import MappedText
from .segments import PauseSegment, Pronunciation, Segment, SpeechSegment
from .sentences import sentence_spans


@dataclass(frozen=True)
class Voicing:
    """How a segment is spoken: its voice (canonical mix string and pack), pace and G2P."""

    voice: str
    pack: object            # torch.Tensor [rows, 1, 256]
    speed: float
    g2p: G2P
    english: bool           # English text is normalized before G2P


@dataclass(frozen=True)
class SpeechChunk:
    """A chunk to speak and how; ``phonemes``, ``pack`` and ``speed`` are what the engine reads."""

    chunk: TextChunk
    voicing: Voicing

    @property
    def phonemes(self) -> str:
        return self.chunk.phonemes

    @property
    def pack(self) -> object:
        return self.voicing.pack

    @property
    def speed(self) -> float:
        return self.voicing.speed


@dataclass(frozen=True)
class Pause:
    seconds: float


PlanItem = Union[SpeechChunk, Pause]



def locate_tokens(tokens: Sequence[PhonemeToken], sentence: MappedText) -> list[PhonemeToken]:
    """Give each token the original span of its text, found in order in the (normalized) sentence.

    A token whose text cannot be found (a G2P that rewrote it) gets the span at the search cursor, so
    times stay monotonic; one whose text is the whole sentence gets the sentence's span.
    """
    cursor = 0
    for token in tokens:
        if token.start >= 0:
            continue
        at = sentence.text.find(token.text, cursor) if token.text else -1
        if at < 0:
            token.start, token.end = sentence.span(cursor, cursor)
            continue
        token.start, token.end = sentence.span(at, at + len(token.text))
        cursor = at + len(token.text)
    return list(tokens)


class SpeechPlanner:
    """Turns segments into a plan; ``normalize`` is applied to English text pieces."""

    def __init__(self, limits: ChunkLimits, normalize: Optional[Callable[[MappedText], MappedText]] = None):
        self.limits = limits
        self.normalize = normalize

    def plan(self, segments: Iterable[Segment], voicing_for: Callable[[SpeechSegment], Voicing],
             spoken: int = 0) -> Iterator[PlanItem]:
        """The plan of ``segments``. ``spoken``: phonemes chunked so far (0: the first chunk is short; later
        ones ramp up across segments, and across the parts of a text streamed in parts)."""
        for segment in segments:
            if isinstance(segment, PauseSegment):
                if segment.seconds > 0:
                    yield Pause(segment.seconds)
                continue
            voicing = voicing_for(segment)
            for chunk in pack_sentences(self._sentences(segment, voicing), self.limits, spoken):
                spoken += len(chunk.phonemes)
                yield SpeechChunk(chunk, voicing)

    def _sentences(self, segment: SpeechSegment, voicing: Voicing) -> Iterator[list[PhonemeToken]]:
        """The segment's sentences as token lists. A sentence may run across pieces ("Say
        [Kokoro](/…/) now."): it closes only at terminal punctuation or the segment's end."""
        open_sentence: list[PhonemeToken] = []
        for piece in segment.pieces:
            if isinstance(piece, Pronunciation):
                open_sentence.append(PhonemeToken(piece.text, piece.phonemes, " ", piece.start, piece.end))
                continue
            text = self.normalize(piece) if (self.normalize and voicing.english) else piece
            spans = list(sentence_spans(text.text))
            for n, (start, end) in enumerate(spans):
                sentence = text.slice(start, end)
                open_sentence.extend(locate_tokens(voicing.g2p(sentence.text), sentence))
                closed = (n < len(spans) - 1 or sentence.text.endswith(CLOSED_SENTENCE_END)
                          or text.text[end:].count("\n"))
                if closed and open_sentence:
                    yield open_sentence
                    open_sentence = []
        if open_sentence:
            yield open_sentence
