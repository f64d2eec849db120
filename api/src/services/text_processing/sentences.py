"""Sentence splitting: linear time on any input (no backtracking patterns)."""
import re
from typing import Iterator

# One sentence end: terminal punctuation with any closing quotes/brackets, or a line break. The
# lookbehinds stop a search from restarting inside a run it already rejected, and the possessive
# runs never backtrack, so a long run of punctuation is scanned once: linear time.
_BOUNDARY = re.compile(r"(?<![.!?…])[.!?…]++[\"'”’)\]]*+(?=\s)|(?<![。！？；])[。！？；]++|\n+")


def split_sentences(text: str) -> Iterator[str]:
    """Yield the sentences of ``text`` in order, each with its terminal punctuation; never drops text."""
    start = 0
    for match in _BOUNDARY.finditer(text):
        piece = text[start:match.end()].strip()
        if piece:
            yield piece
        start = match.end()
    tail = text[start:].strip()
    if tail:
        yield tail
