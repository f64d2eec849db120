"""Text that remembers where each of its characters came from in the user's original input.

Normalization and markup parsing rewrite the text ("$5" -> "five dollars", tags removed); captions must
still point at what the user wrote. A ``MappedText`` carries, for every character, the span of the
original input it stands for, and every rewrite goes through ``sub`` so the map stays exact.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Union

Replacement = Union[str, Callable[[re.Match], str]]


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

    def sub(self, pattern: Union[str, re.Pattern], repl: Replacement, count: int = 0) -> "MappedText":
        """``re.sub`` that keeps the map: each replaced match maps to the original span of the match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        texts: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        last = 0
        for n, match in enumerate(regex.finditer(self.text)):
            if count and n >= count:
                break
            a, b = match.span()
            new = repl(match) if callable(repl) else match.expand(repl)
            if new == match.group(0):
                continue
            texts.append(self.text[last:a])
            starts.extend(self.starts[last:a])
            ends.extend(self.ends[last:a])
            start, end = self.span(a, b)
            texts.append(new)
            starts.extend([start] * len(new))
            ends.extend([end] * len(new))
            last = b
        if last == 0 and not texts:
            return self
        texts.append(self.text[last:])
        starts.extend(self.starts[last:])
        ends.extend(self.ends[last:])
        return MappedText("".join(texts), tuple(starts), tuple(ends))
