"""Pronunciation dictionaries: words spoken the way the server (``PRONUNCIATIONS_FILE``) or the request
(``pronunciations``) says, before G2P, for every model version.

An entry maps a word (or a few words) to either phonemes in the model version's alphabet between
slashes (``"Kokoro": "/kˈOkəɹO/"``, misaki's own inline syntax) or a respelling (``"Kokoro":
"Kohkoro"``). Phonemes become a ``Pronunciation`` piece, exactly like ``[Kokoro](/kˈOkəɹO/)`` in the
input; a respelling replaces the word as text (and is normalized and G2P'd like the rest).

Matching is whole words and case-insensitive: a key starts with a word character, matches only where
the text's word starts and ends with it ("Kokoro" in "Kokoro's", not in "Kokoros"), and its words may
be separated by any run of whitespace. The longest key wins where several start at the same word.
Request entries win over the server's. Inline ``[word](/phonemes/)`` pieces are never rewritten.
Lookups go by the first word, so a pass is linear in the text for any number of entries.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Iterable, Iterator, Mapping, Optional

from ...core.exceptions import InvalidRequest, quote
from .mapped_text import MappedText
from .markup import SegmentBuilder
from .segments import PauseSegment, Pronunciation, Segment

MAX_REQUEST_ENTRIES = 200     # entries in one request's ``pronunciations``
MAX_FILE_ENTRIES = 20_000     # entries in PRONUNCIATIONS_FILE
MAX_KEY_CHARS = 100
MAX_VALUE_CHARS = 200

_TOKEN = re.compile(r"(\w+)|\s+|[^\w\s]")
_KEY = re.compile(r"\w[^\[\]\n]*")
_PHONEMES = re.compile(r"/(?P<phonemes>[^/\n]+)/")


def _tokens(text: str) -> list[tuple[int, int, str, bool]]:
    """``(start, end, token, is_word)``: word runs lower-cased, whitespace runs as one space."""
    return [(m.start(), m.end(), m.group().lower() if m.group(1) else (m.group() if not m.group().isspace() else " "),
             m.group(1) is not None) for m in _TOKEN.finditer(text)]


@dataclass(frozen=True)
class Entry:
    key: str                     # as written in the dictionary
    phonemes: Optional[str]      # the phonemes between the slashes, or None for a respelling
    text: Optional[str]          # the respelling


def parse_entries(entries: object, *, source: str, param: Optional[str], max_entries: int) -> dict[str, Entry]:
    """Checked entries by their matching key (lower case, words joined by one space).

    A bad entry raises ``InvalidRequest`` naming ``source`` (a request field or the server's file):
    too many entries, a key or value that is empty, too long, or not text, or a key that does not
    start with a letter or digit.
    """
    def bad(message: str) -> InvalidRequest:
        return InvalidRequest(f"{source}: {message}", param=param, code="invalid_pronunciation")

    if not isinstance(entries, Mapping):
        raise bad("must be an object of word -> pronunciation")
    if len(entries) > max_entries:
        raise bad(f"{len(entries)} entries; at most {max_entries}")
    out: dict[str, Entry] = {}
    for key, value in entries.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise bad(f"the entry {quote(key)} must map a word to a string")
        word = " ".join(key.split())
        if not _KEY.fullmatch(word) or len(word) > MAX_KEY_CHARS:
            raise bad(f"the word {quote(key)} must start with a letter or digit, have no brackets or line "
                      f"breaks and be at most {MAX_KEY_CHARS} characters")
        value = value.strip()
        if not value or len(value) > MAX_VALUE_CHARS or "\n" in value:
            raise bad(f"the pronunciation of {quote(key)} must be 1 to {MAX_VALUE_CHARS} characters on one line")
        phonemes = _PHONEMES.fullmatch(value)
        if phonemes:
            out[word.lower()] = Entry(word, phonemes["phonemes"].strip(), None)
        elif value.startswith("/") or value.endswith("/"):
            raise bad(f"the pronunciation of {quote(key)} must be /phonemes/ or a respelling without slashes")
        else:
            out[word.lower()] = Entry(word, None, value)
    return out


def check_phonemes(entries: Iterable[Entry], vocab: Collection[str], *, source: str, param: Optional[str],
                   model: str) -> None:
    """Every phoneme entry uses only the symbols of ``vocab`` (and spaces), or ``InvalidRequest``."""
    for entry in entries:
        if entry.phonemes is None:
            continue
        unknown = sorted({ch for ch in entry.phonemes if ch not in vocab and not ch.isspace()})
        if unknown:
            raise InvalidRequest(
                f"{source}: the phonemes of {quote(entry.key)} use {', '.join(map(repr, unknown[:10]))}, "
                f"not in {model}'s phoneme alphabet", param=param, code="invalid_pronunciation")


def load_file(path: Optional[Path]) -> dict[str, Entry]:
    """The server's dictionary (PRONUNCIATIONS_FILE: a JSON object of word -> pronunciation); ``{}``
    without one. An unreadable or invalid file raises ``ValueError`` saying what is wrong, so the
    server does not start with it."""
    if path is None:
        return {}
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
        return parse_entries(entries, source=f"PRONUNCIATIONS_FILE {path}", param=None,
                             max_entries=MAX_FILE_ENTRIES)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"PRONUNCIATIONS_FILE {path} cannot be read as a JSON object: {exc}") from exc
    except InvalidRequest as exc:
        raise ValueError(str(exc)) from exc


class PronunciationDict:
    """Finds dictionary words in text (see the module docstring for the matching rules).

    Keys and text are cut into the same tokens (a word run, a whitespace run, one other character) and
    keys are kept in a trie of tokens, so finding costs at most a key's length per word of the text,
    however many entries there are. ``base`` (the server's dictionary, built once) is consulted where
    none of these entries matches at a word: a request's entry wins over the server's.
    """

    def __init__(self, entries: Mapping[str, Entry], base: Optional["PronunciationDict"] = None):
        self._trie: dict[Optional[str], Any] = {}   # token -> sub-trie; None -> the Entry ending here
        for lowered, entry in entries.items():
            node = self._trie
            for token in _tokens(lowered):
                node = node.setdefault(token[2], {})
            node[None] = entry
        self._base = base

    def __bool__(self) -> bool:
        return bool(self._trie) or bool(self._base)

    def _longest(self, tokens: list[tuple[int, int, str, bool]], i: int) -> Optional[tuple[int, Entry]]:
        """The token index after, and the entry of, the longest key starting at token ``i``."""
        node = self._trie
        best: Optional[tuple[int, Entry]] = None
        for j in range(i, len(tokens)):
            child = node.get(tokens[j][2])
            if child is None:
                break
            node = child
            if None in node and (j + 1 == len(tokens) or not tokens[j + 1][3]):
                best = (j + 1, node[None])
        if best is None and self._base is not None:
            return self._base._longest(tokens, i)
        return best

    def find(self, text: str) -> Iterator[tuple[int, int, Entry]]:
        """``(start, end, entry)`` of each dictionary word in ``text``, in order, not overlapping."""
        tokens = _tokens(text)
        i = 0
        while i < len(tokens):
            hit = self._longest(tokens, i) if tokens[i][3] else None
            if hit is None:
                i += 1
                continue
            yield tokens[i][0], tokens[hit[0] - 1][1], hit[1]
            i = hit[0]

    def apply(self, segments: list[Segment]) -> list[Segment]:
        """``segments`` with each dictionary word in their text replaced by its pronunciation."""
        if not self:
            return segments
        builder = SegmentBuilder()
        for segment in segments:
            if isinstance(segment, PauseSegment):
                builder.add_pause(segment.seconds, segment.start, segment.end)
                continue
            builder.switch(segment.voice, segment.rate)
            for piece in segment.pieces:
                if isinstance(piece, Pronunciation):
                    builder.add_pronunciation(piece)
                    continue
                last = 0
                for start, end, entry in self.find(piece.text):
                    builder.add_text(piece.slice(last, start))
                    span = piece.span(start, end)
                    if entry.phonemes is not None:
                        builder.add_pronunciation(Pronunciation(piece.text[start:end], entry.phonemes, *span))
                    else:
                        assert entry.text is not None   # an entry is either phonemes or a respelling
                        builder.add_text(MappedText.synthetic(entry.text, *span))
                    last = end
                builder.add_text(piece.slice(last, len(piece.text)))
                builder.end_piece()
            builder.end_segment()
        return builder.finish()
