"""Sentence splitting: linear time on any input (no backtracking patterns)."""
import re
from typing import Iterator

# One sentence end: terminal punctuation with any closing quotes/brackets, or a line break. The
# lookbehinds stop a search from restarting inside a run it already rejected, and the possessive
# runs never backtrack, so a long run of punctuation is scanned once: linear time.
_BOUNDARY = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s)|(?<![。！？；])[。！？；]++|\n+")


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``, in order, surrounding whitespace excluded."""
    start = 0
    for end in [m.end() for m in _BOUNDARY.finditer(text)] + [len(text)]:
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            left = start + len(piece) - len(piece.lstrip())
            yield left, left + len(stripped)
        start = end


def split_sentences(text: str) -> Iterator[str]:
    """Yield the sentences of ``text`` in order, each with its terminal punctuation; never drops text."""
    for start, end in sentence_spans(text):
        yield text[start:end]
