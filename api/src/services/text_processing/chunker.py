"""Packs a text's phonemized sentences into model-sized chunks, lazily, so the first can be spoken at once.

Limits count phonemes of the version that will speak them. The first chunk closes after the first
sentence (up to ``first_max`` phonemes) to get audio out fast, once it holds ``first_min`` phonemes: a
shorter first sentence ("Sure!") takes the next one with it, or the head of it that fits. Later chunks
ramp up: each holds at most ``ramp`` times the phonemes chunked before it (but may always hold
``first_max``), so that while a client plays what it has, the next chunk is ready (on a CPU whose
real-time factor is below 1 / ``ramp``), until chunks reach ``target_min`` .. ``target_max``. A sentence
longer than the chunk limit is cut at the last clause punctuation, then at the last word boundary, that
fits. No chunk exceeds ``absolute_max`` (≤ 510, the model's window).
"""
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from ...core.phonemes import G2P, PhonemeToken, join_phonemes, join_text
from ...core.punctuation import SPLIT_WATERFALL
from .sentences import split_sentences

MODEL_MAX_PHONEMES = 510


@dataclass(frozen=True)
class ChunkLimits:
    first_max: int = 100
    target_min: int = 175
    target_max: int = 250
    absolute_max: int = 450
    first_min: int = 20
    ramp: float = 2.0     # 0: no ramp, every chunk after the first packs to target_min .. target_max

    def __post_init__(self) -> None:
        if not 0 < self.target_min <= self.target_max <= self.absolute_max <= MODEL_MAX_PHONEMES:
            raise ValueError("chunk limits must satisfy 0 < min <= max <= absolute <= 510")
        if self.first_min < 0:
            raise ValueError("the first chunk's minimum must not be negative")
        if not (self.ramp == 0 or self.ramp >= 1):
            raise ValueError("the chunk ramp must be 0 (off) or at least 1")

    def sizes(self, spoken: int) -> tuple[int, int, int]:
        """(close at, pack up to, cut sentences at) phonemes for the next chunk, after ``spoken``."""
        if spoken == 0:   # a minimum above the maximum is the maximum
            return min(self.first_min, self.first_max), self.first_max, self.first_max
        # never below first_max: a sentence the first chunk could hold is not cut for the ramp's sake
        cap = max(int(self.ramp * spoken), self.first_max) if self.ramp else self.absolute_max
        return min(self.target_min, cap), min(self.target_max, cap), min(self.absolute_max, cap)


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
    for i in range(end, start, -1):   # from end: the last word that fits, when a space follows it
        if tokens[i - 1].whitespace:
            return i
    return max(end, start + 1)


def iter_chunks(text: str, g2p: G2P, limits: ChunkLimits = ChunkLimits()) -> Iterator[TextChunk]:
    """Phonemize ``text`` sentence by sentence and yield chunks as soon as each is complete.

    Chunks with nothing to say (no phonemes, or only punctuation: symbols the G2P cannot speak) are
    not yielded.
    """
    return pack_sentences((g2p(sentence) for sentence in split_sentences(text)), limits)


def _window_end(tokens: Sequence[PhonemeToken], start: int, limit: int) -> int:
    """End of the longest run ``tokens[start:end]`` whose phonemes fit in ``limit`` (as ``fit_tokens`` counts)."""
    end, used = start, 0
    while end < len(tokens) and used + len(tokens[end].phonemes) <= limit:
        used += _cost(tokens[end])
        end += 1
    return end


def _head_end(tokens: Sequence[PhonemeToken], start: int, limit: int) -> int:
    """End of the best run of whole tokens from ``start`` within ``limit``: all the rest when it fits, else
    cut at the strongest punctuation, else after a spaced word; ``start`` when the first token is longer."""
    end = _window_end(tokens, start, limit)
    if end in (start, len(tokens)):
        return end
    return _best_cut(tokens, start, end)


def pack_sentences(sentences: Iterable[list[PhonemeToken]], limits: ChunkLimits,
                   spoken: int = 0) -> Iterator[TextChunk]:
    """Pack phonemized sentences into chunks (see the module's text), in time linear in the tokens.

    ``spoken``: phonemes of the same request already chunked (0: the next chunk is the request's first).
    """
    current: list[PhonemeToken] = []
    cost = 0   # of current, as _cost counts

    def take(tokens: list[PhonemeToken], start: int, end: int) -> int:
        nonlocal cost
        current.extend(tokens[start:end])
        cost += sum(_cost(t) for t in tokens[start:end])
        return end

    def emit() -> Iterator[TextChunk]:
        """Close the current chunk; yield it unless it has nothing to say."""
        nonlocal current, cost, spoken
        chunk = TextChunk(join_text(current), join_phonemes(current), tuple(current))
        current, cost = [], 0
        if any(symbol.isalpha() for symbol in chunk.phonemes):
            spoken += len(chunk.phonemes)
            yield chunk

    for sentence in sentences:
        tokens, at = list(sentence), 0
        while at < len(tokens):
            close_at, pack_to, cut_at = limits.sizes(spoken)
            if not current:
                if len(tokens[at].phonemes) > cut_at:   # a 'word' longer than a chunk: cut it evenly
                    tokens[at:at + 1] = _split_long_token(tokens[at], cut_at)
                at = take(tokens, at, _head_end(tokens, at, cut_at))
            elif _window_end(tokens, at, pack_to - cost - 1) == len(tokens):
                at = take(tokens, at, len(tokens))     # the rest of the sentence joins the chunk
            elif spoken == 0 and cost < close_at:
                # a short first sentence takes the head of this one that fits beside it
                at = take(tokens, at, _head_end(tokens, at, pack_to - cost - 1))
            if at == len(tokens):
                break
            yield from emit()
        if current and cost >= limits.sizes(spoken)[0]:
            yield from emit()
    if current:
        yield from emit()
