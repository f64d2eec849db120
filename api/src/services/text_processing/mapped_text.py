"""Text that remembers where each of its characters came from in the user's original input.

Normalization and markup parsing rewrite the text ("$5" -> "five dollars", tags removed); captions must
still point at what the user wrote. A ``MappedText`` carries, for every character, the span of the
original input it stands for, and every rewrite goes through ``sub`` (or ``rebuild``) so the map stays exact.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence, Union

Replacement = Union[str, Callable[[re.Match[str]], str]]
# One piece of a rebuilt match: a new string, or a (start, end) span of the text being rebuilt.
Part = Union[tuple[int, int], str]


@dataclass(frozen=True)
class MappedText:
    """``text`` plus, per character ``i``, the original span ``[starts[i], ends[i])`` it came from.

    Characters produced by a replacement all map to the span of the whole text they replaced.
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, text: str, offset: int = 0) -> "MappedText":
        """Text taken verbatim from the original, starting at ``offset`` there."""
        positions = range(offset, offset + len(text))
        return cls(text, tuple(positions), tuple(p + 1 for p in positions))

    @classmethod
    def synthetic(cls, text: str, start: int, end: int) -> "MappedText":
        """Text that stands for the original span ``[start, end)`` as a whole (an SSML alias, say)."""
        return cls(text, (start,) * len(text), (end,) * len(text))

    def __len__(self) -> int:
        return len(self.text)

    def __add__(self, other: "MappedText") -> "MappedText":
        return MappedText(self.text + other.text, self.starts + other.starts, self.ends + other.ends)

    def span(self, i: int, j: int) -> tuple[int, int]:
        """The original span behind ``text[i:j]`` (an empty slice maps to an empty span)."""
        i, j = max(0, i), min(len(self.text), j)
        if j <= i:
            at = self.starts[i] if i < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return at, at
        return min(self.starts[i:j]), max(self.ends[i:j])

    def slice(self, i: int, j: int) -> "MappedText":
        return MappedText(self.text[i:j], self.starts[i:j], self.ends[i:j])

    def strip(self) -> "MappedText":
        left = len(self.text) - len(self.text.lstrip())
        right = len(self.text.rstrip())
        return self.slice(left, max(left, right))

    def sub(self, pattern: Union[str, re.Pattern[str]], repl: Replacement, count: int = 0) -> "MappedText":
        """``re.sub`` that keeps the map: each replaced match maps to the original span of the match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        seen = 0

        def parts(match: re.Match[str]) -> list[Part]:
            nonlocal seen
            seen += 1
            new = match.group(0) if count and seen > count else \
                repl(match) if callable(repl) else match.expand(repl)
            return [match.span()] if new == match.group(0) else [new]

        return self.rebuild(regex, parts)

    def rebuild(self, pattern: re.Pattern[str], parts: Callable[[re.Match[str]], Sequence[Part]]) -> "MappedText":
        """This text with each match of ``pattern`` replaced by ``parts(match)``: strings (mapped to the
        whole match's original span) and ``(i, j)`` spans of this text (kept with their own map, so words
        kept from inside a match still point at themselves)."""
        texts: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        last = 0
        for match in pattern.finditer(self.text):
            a, b = match.span()
            pieces = parts(match)
            if list(pieces) == [(a, b)]:
                continue   # unchanged: the match keeps its own map
            texts.append(self.text[last:a])
            starts.extend(self.starts[last:a])
            ends.extend(self.ends[last:a])
            whole = self.span(a, b)
            for part in pieces:
                if isinstance(part, str):
                    texts.append(part)
                    starts.extend([whole[0]] * len(part))
                    ends.extend([whole[1]] * len(part))
                else:
                    i, j = part
                    texts.append(self.text[i:j])
                    starts.extend(self.starts[i:j])
                    ends.extend(self.ends[i:j])
            last = b
        if last == 0 and not texts:
            return self
        texts.append(self.text[last:])
        starts.extend(self.starts[last:])
        ends.extend(self.ends[last:])
        return MappedText("".join(texts), tuple(starts), tuple(ends))
