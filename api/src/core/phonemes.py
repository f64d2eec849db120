"""The unit the text pipeline works in: a word (or punctuation) with its phonemes."""
from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass
class PhonemeToken:
    text: str
    phonemes: str
    whitespace: str = ""   # what followed the word in the text
    start: int = -1        # the span of the user's original input it came from (-1: unknown)
    end: int = -1


class G2P(Protocol):
    """Grapheme-to-phoneme conversion of one sentence; thread-safe, may be slow (run it off the loop)."""

    def __call__(self, text: str) -> list[PhonemeToken]: ...


def join_phonemes(tokens: Sequence[PhonemeToken]) -> str:
    """The phoneme string the model reads for these tokens: words separated where the text had a space."""
    return "".join(t.phonemes + (" " if t.whitespace else "") for t in tokens).strip()


def join_text(tokens: Sequence[PhonemeToken]) -> str:
    return "".join(t.text + t.whitespace for t in tokens).strip()
