"""Words and symbols: optional plurals, abbreviations and titles, and the symbols that remain (as
words, or as a word break)."""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

from ....core.punctuation import CLOSING, OPENING
from .patterns import _sentence_ends_after


def _optional_plural(m: re.Match[str]) -> str:
    return m.group(1)


_ABBREVIATIONS = {
    # Titles: always followed by a name, so their period never ends a sentence.
    "Dr": "Doctor", "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Mt": "Mount",
    # These often end a sentence: the period stays when it does.
    "Jr": "Junior", "Sr": "Senior", "Inc": "Incorporated", "Ltd": "Limited", "Corp": "Corporation",
    "Co": "Company", "Ave": "Avenue", "etc": "et cetera",
    "Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "Jun": "June", "Jul": "July",
    "Aug": "August", "Sep": "September", "Sept": "September", "Oct": "October", "Nov": "November",
    "Dec": "December",
    # Never sentence-final in practice.
    "vs": "versus", "approx": "approximately", "e.g": "for example", "i.e": "that is", "No": "number",
}
_TITLES = {"Dr", "Mr", "Mrs", "Ms", "Prof", "Mt", "St"}
_MID_SENTENCE = {"vs", "approx", "e.g", "i.e", "No"}
_ABBREVIATION = (
    r"(?<![\w.])(?:"
    r"(?P<title>Dr|Mr|Mrs|Ms|Prof|Mt|Jr|Sr|Inc|Ltd|Corp|Co|Ave|St"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\."
    r"|(?P<any>(?i:etc|approx|e\.g|i\.e))\."
    r"|(?P<vs>[Vv]s)\.?(?!\w)"
    r"|(?P<no>[Nn]o)\.(?=[ ]?[0-9])"
    r")"
)


def _abbreviation(m: re.Match[str]) -> str:
    if m.group("no"):
        return "number"
    if m.group("vs"):
        return "versus"
    key = m.group("title") or m.group("any").lower()
    if key == "St":
        # "St. Louis" is a saint; "Main St." (no name after it) a street.
        following = m.string[m.end():m.end() + 2]
        word = "Saint" if len(following) == 2 and following[0] == " " and following[1].isupper() else "Street"
        return word + ("." if word == "Street" and _sentence_ends_after(m) else "")
    word = _ABBREVIATIONS[key]
    if key not in _TITLES and key not in _MID_SENTENCE and _sentence_ends_after(m):
        return word + "."
    return word


# Symbols: a word, "" (delete), " " (a word break) or None (keep the character).
_SYMBOL_WORDS = {
    "&": "and", "%": "percent", "@": "at", "+": "plus", "=": "equals", "°": "degrees", "×": "times",
    "÷": "divided by", "±": "plus or minus", "−": "minus", "$": "dollar", "€": "euro", "£": "pound",
    "¥": "yen", "©": "copyright", "®": "registered", "™": "trademark", "§": "section", "‰": "per mille",
}
_VARIATION_SELECTORS = (0xFE00, 0xFE0F), (0xE0100, 0xE01EF)


def _symbol_word(ch: str, following: str) -> Optional[str]:
    if ch == "#":
        return "number" if following in "0123456789" and following else "hash"
    if ch in _SYMBOL_WORDS:
        return _SYMBOL_WORDS[ch]
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _VARIATION_SELECTORS):
        return ""
    category = unicodedata.category(ch)
    if category[0] in "LNM":
        return None  # combining accents and the like belong to their word
    if category == "Cf":
        return ""  # zero-width joiners, soft hyphens: invisible, and inside words
    return " "


def _symbols(m: re.Match[str]) -> str:
    """A run of symbols as words, set off by single spaces from the words around it ("A&B" -> "A and B")."""
    s, a, b = m.string, m.start(), m.end()
    out, breaks = [], False
    for k in range(a, b):
        ch = s[k]
        word = _symbol_word(ch, s[k + 1] if k + 1 < len(s) else "")
        if word is None:
            out.append(ch)
        elif word == " ":
            breaks = True
            out.append(" ")
        elif word:
            out.append(f" {word} ")
    text = " ".join("".join(out).split())
    before = s[a - 1] if a > 0 else " "
    after = s[b] if b < len(s) else " "
    if not text:
        # Only breaks (an emoji, "*"): one space between two words, nothing next to a space or punctuation.
        joins = breaks and not (before.isspace() or before in OPENING or after.isspace() or after in CLOSING)
        return " " if joins else ""
    if not (before.isspace() or before in OPENING):
        text = " " + text
    if not (after.isspace() or after in CLOSING):
        text += " "
    return text
