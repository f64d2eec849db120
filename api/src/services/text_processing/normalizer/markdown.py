"""Markdown as chat models write it: the words are read, the markup is not (``markdown`` option).

- ``# Heading`` (1-6 ``#`` and a space), bullets (``-``, ``*``, ``+`` and a space), numbered items
  (1-3 digits, ``.`` or ``)`` and a space; only on a line next to a line break: a one-line text that
  starts "- 5" or "1. " is prose) and table rows (lines starting with ``|``; cells read in order, split
  by commas) lose their markers, and end with a sentence break: a ``.`` is added unless the line
  already ends with punctuation. Numbered items' numbers are not read.
- ``> quote`` loses its ``>``; horizontal rules (``---``, ``***``, ``___``), setext underlines
  (``===``) and table separator rows (``|---|:--:|``) are dropped.
- ``**bold**``, ``__bold__``, ``*em*``, ``_em_``, ``~~strike~~`` and `` `code` `` read their content.
- ``[text](url)`` reads ``text`` (the URL is dropped); ``![alt](url)`` reads ``alt`` (nothing if empty).
- Fenced code blocks (```` ``` ```` or ``~~~``, with or without a language) are read plainly: the fence
  lines go, the contents stay (and are normalized like any text).

Ordinary text is left alone: an emphasis marker must touch its word on the inside and not be inside a
word on the outside ("5 * 3", "snake_case_name", "a*b*c" stay), a heading needs ``#`` and a space at a
line start ("C# code", "#1 fan", "#python" stay), a bullet needs a marker and a space at a line start
("a - b" stays). Every span is bounded, so each pass is linear. Kept words keep their own map to the
input; markers map nowhere (they are gone) and an added ``.`` maps to the line's marker.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

from ..mapped_text import MappedText, Part

_SENTENCE_CLOSED = tuple(".!?…:;,")
_FENCE = re.compile(r"(?m)^[ ]{0,3}+(?:`{3,}+|~{3,}+)[^\n`]{0,100}+(?:\n|\Z)")
_QUOTE = re.compile(r"(?m)^[ \t]{0,12}+(?:>[ \t]?+){1,16}+")
_RULE_LINE = re.compile(
    r"(?m)^[ ]{0,3}+(?:(?:[-*_][ \t]{0,8}+){3,}+|={3,}+"
    r"|\|?[ \t]{0,8}+:?-{1,}+:?[ \t]{0,8}+(?:\|[ \t]{0,8}+:?-{1,}+:?[ \t]{0,8}+){1,64}+\|?"
    r"|\|[ \t]{0,8}+:?-{1,}+:?[ \t]{0,8}+\|)[ \t]{0,8}+$\n?")
_TABLE_ROW = re.compile(r"(?m)^[ \t]{0,12}+\|(?P<cells>[^\n]{0,5000}+)")
_BLOCK = re.compile(r"(?m)^[ \t]{0,12}+(?P<marker>#{1,6}+|[-*+]|[0-9]{1,3}+[.)])[ \t]++(?P<body>[^\n]{0,5000}+)")
_CLOSING_HASHES = re.compile(r"[ \t]++#++[ \t]*+$")
_LINK = re.compile(r"!?\[(?P<text>[^\[\]\n]{0,500}+)\]\([^()\s]{0,2000}+(?:[ ]{1,8}+\"[^\"\n]{0,200}+\")?\)")
_CODE = re.compile(r"(?<!`)`(?P<body>[^`\n]{1,500}+)`(?!`)")
# Content runs up to the next marker character (possessive, so each character is scanned once or twice).
_EMPHASIS = re.compile(
    r"(?<![\w*])(?P<m>\*{1,3}+)(?=[^\s*])(?P<body>[^*\n]{1,500}+)(?<=\S)(?P=m)(?![\w*])"
    r"|(?<![\w~])~~(?=[^\s~])(?P<tbody>[^~\n]{1,500}+)(?<=\S)~~(?![\w~])"
    r"|(?<![\w_])(?P<u>_{1,3}+)(?=[^\s_])(?P<ubody>[^_\n]{1,500}+)(?<=\S)(?P=u)(?![\w_])")
_GATE = re.compile(r"[#*_~`>|\[=-]|^[ \t]{0,12}+[0-9]{1,9}+[.)]", re.M)


def _closed(start: int, end: int, s: str) -> list[Part]:
    """The words in ``s[start:end]`` (trimmed) and a '.' unless they already end with punctuation."""
    body = s[start:end]
    start += len(body) - len(body.lstrip())
    end = start + len(body.strip())
    if end <= start:
        return []
    return [(start, end)] + ([] if s[end - 1] in _SENTENCE_CLOSED else ["."])


def _block(m: re.Match[str]) -> list[Part]:
    start, end = m.span("body")
    s = m.string
    if m.group("marker")[0] != "#" and not (s[m.start() - 1:m.start()] == "\n" or s[end:end + 1] == "\n"):
        return [m.span()]   # a list is lines: a lone "* note" or "1. thing" without a line break is prose
    if m.group("marker")[0] == "#":   # "## Title ##": closing hashes (after a space) go too
        closing = _CLOSING_HASHES.search(m.group("body"))
        end = start + closing.start() if closing else end
    return _closed(start, end, m.string)


def _table_row(m: re.Match[str]) -> list[Part]:
    parts: list[Part] = []
    at = m.start("cells")
    for cell in m.group("cells").split("|"):
        words = _closed(at, at + len(cell), m.string)[:1]
        if words:
            parts += ([", "] if parts else []) + words
        at += len(cell) + 1
    last = parts[-1] if parts else None   # a cell's words: a span
    if isinstance(last, tuple) and m.string[last[1] - 1] not in _SENTENCE_CLOSED:
        parts.append(".")
    return parts


def _group(name: str) -> Callable[[re.Match[str]], list[Part]]:
    return lambda m: [m.span(name)]


def _emphasis(m: re.Match[str]) -> list[Part]:
    return [m.span(next(g for g in ("body", "tbody", "ubody") if m.group(g) is not None))]


_PASSES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Sequence[Part]]], ...] = (
    (_FENCE, lambda m: ["\n"] if m.group(0).endswith("\n") else []),
    (_QUOTE, lambda m: []),
    (_RULE_LINE, lambda m: []),
    (_TABLE_ROW, _table_row),
    (_BLOCK, _block),
    (_LINK, _group("text")),
    (_CODE, _group("body")),
    (_EMPHASIS, _emphasis),
)


def strip_markdown(text: MappedText) -> MappedText:
    """``text`` with its markdown markup removed (see the module docstring)."""
    if _GATE.search(text.text) is None:
        return text
    for pattern, parts in _PASSES:
        text = text.rebuild(pattern, parts)
    return text
