"""Packs a text's phonemized sentences into model-sized chunks, lazily, so the first can be spoken at once.

Limits count phonemes of the version that will speak them. The first chunk closes after the first
sentence (up to ``first_max`` phonemes) to get audio out fast; later chunks grow to ``target_min`` ..
``target_max``; a sentence longer than the chunk limit is cut at the last clause punctuation, then at
the last word boundary, that fits. No chunk exceeds ``absolute_max`` (≤ 510, the model's window).
"""
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from .sentences import split_sentences
from ...core.phonemes import G2P, PhonemeToken, join_phonemes, join_text
from ...core.punctuation import SPLIT_WATERFALL

MODEL_MAX_PHONEMES = 510
# Preferred cut points, strongest first.


@dataclass(frozen=True)
class ChunkLimits:
    first_max: int = 100
    target_min: int = 175
    target_max: int = 250
    absolute_max: int = 450

    def __post_init__(self):
        if not 0 < self.target_min <= self.target_max <= self.absolute_max <= MODEL_MAX_PHONEMES:
            raise ValueError("chunk limits must satisfy 0 < min <= max <= absolute <= 510")


@dataclass(frozen=True)
class TextChunk:
    text: str
    phonemes: str
    tokens: tuple[PhonemeToken, ...] = ()   # what it was joined from (word spans, for captions)


def _cost(token: PhonemeToken) -> int:
    return len(token.phonemes) + (1 if token.whitespace else 0)


def _split_long_token(token: PhonemeToken, limit: int) -> list[PhonemeToken]:
    """A single 'word' over the limit (a long run with no spaces): cut its phonemes evenly."""
    ps = token.phonemes
    parts = [ps[i:i + limit] for i in range(0, len(ps), limit)]
    return [PhonemeToken(token.text if i == 0 else "", p, "" if i < len(parts) - 1 else token.whitespace,
                         token.start, token.end)
            for i, p in enumerate(parts)]


def _flatten(tokens: Sequence[PhonemeToken], limit: int) -> list[PhonemeToken]:
    flat: list[PhonemeToken] = []
    for t in tokens:
        flat.extend(_split_long_token(t, limit) if len(t.phonemes) > limit else [t])
    return flat


def fit_tokens(tokens: Sequence[PhonemeToken], limit: int) -> Iterator[list[PhonemeToken]]:
    """Cut ``tokens`` into runs whose phoneme strings are at most ``limit`` long, at the best places."""
    flat = _flatten(tokens, limit)
    start = 0
    while start < len(flat):
        end, used = start, 0
        while end < len(flat) and used + len(flat[end].phonemes) <= limit:
            used += _cost(flat[end])
            end += 1
        if end == len(flat):
            yield flat[start:end]
            return
        cut = _best_cut(flat, start, end)
        yield flat[start:cut]
        start = cut


def _is_mark(token: PhonemeToken, marks: str) -> bool:
    symbol = token.phonemes or token.text
    return bool(symbol) and all(c in marks for c in symbol)


def _best_cut(tokens: Sequence[PhonemeToken], start: int, end: int) -> int:
    """Index after the strongest punctuation in tokens[start:end], else after the last spaced word."""
    for marks in SPLIT_WATERFALL:
        for i in range(end - 1, start, -1):
            if _is_mark(tokens[i], marks):
                return i + 1
    for i in range(end - 1, start, -1):
        if tokens[i - 1].whitespace:
            return i
    return max(end, start + 1)


def iter_chunks(text: str, g2p: G2P, limits: ChunkLimits = ChunkLimits()) -> Iterator[TextChunk]:
    """Phonemize ``text`` sentence by sentence and yield chunks as soon as each is complete.

    Chunks with nothing to say (no phonemes, or only punctuation: symbols the G2P cannot speak) are
    not yielded.
    """
    return pack_sentences((g2p(sentence) for sentence in split_sentences(text)), limits)


def pack_sentences(sentences: Iterable[list[PhonemeToken]], limits: ChunkLimits,
                   short_first: bool = True) -> Iterator[TextChunk]:
    """Pack phonemized sentences into chunks; ``short_first``: the first chunk obeys ``first_max``."""
    current: list[PhonemeToken] = []
    first = short_first

    def emit():
        nonlocal current, first
        chunk = TextChunk(join_text(current), join_phonemes(current), tuple(current))
        current = []
        if any(symbol.isalpha() for symbol in chunk.phonemes):
            first = False
            return chunk
        return None

    def add(piece: list[PhonemeToken], ceiling: int):
        if current and len(join_phonemes(current)) + 1 + len(join_phonemes(piece)) > ceiling:
            yield from filter(None, [emit()])
        current.extend(piece)

    for tokens in sentences:
        if not tokens:
            continue
        rest: Sequence[PhonemeToken] = tokens
        if first:
            # Only the first chunk is short: the rest of a long first sentence packs as usual.
            flat = _flatten(tokens, limits.first_max)
            head = next(fit_tokens(flat, limits.first_max))
            yield from add(head, limits.first_max)
            rest = flat[len(head):]
            if rest:
                yield from filter(None, [emit()])
        for piece in (fit_tokens(rest, limits.absolute_max) if rest else ()):
            yield from add(piece, limits.first_max if first else limits.target_max)
        if current and (first or len(join_phonemes(current)) >= limits.target_min):
            yield from filter(None, [emit()])
    if current:
        chunk = emit()
        if chunk:
            yield chunk
