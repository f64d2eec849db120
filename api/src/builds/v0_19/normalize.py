"""Kokoro v0.19's English text normalization, applied before espeak-ng.

The rules are the ones the v0.19 release used (espeak reads plain digits itself; these handle what it
reads badly: years, clock times, money, decimals, ranges, titles, initialisms). Every pattern is
linear: runs that a search could restart inside are anchored with lookbehinds, and quantified runs are
possessive, so a 200,000-character adversarial input costs one pass per rule.
"""
import re
from typing import Callable, Union

from ...core.punctuation import CJK_TO_ASCII

_QUOTES = str.maketrans({"‘": "'", "’": "'", "«": '"', "»": '"', "“": '"', "”": '"', "(": "«", ")": "»"})


def _year(text: str) -> str:
    """'1984' -> '19 84', '1900' -> '19 hundred', '1905' -> '19 oh 5', '1980s' -> '19 80s'."""
    year, plural = int(text[:4]), "s" if text.endswith("s") else ""
    if year < 1100 or year % 1000 < 10:
        return text
    left, right = text[:2], int(text[2:4])
    if 100 <= year % 1000 and right == 0:
        return f"{left} hundred{plural}"
    if 100 <= year % 1000 and right < 10:
        return f"{left} oh {right}{plural}"
    return f"{left} {right}{plural}"


def _clock(text: str) -> str:
    """'3:00' -> "3 o'clock", '3:05' -> '3 oh 5', '3:45' -> '3 45'."""
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes == 0:
        return f"{hours} o'clock"
    return f"{hours} oh {minutes}" if minutes < 10 else f"{hours} {minutes}"


def _number(match: re.Match[str]) -> str:
    text: str = match.group()
    if "." in text:
        return text          # decimals are read out later, after money has taken its own
    return _clock(text) if ":" in text else _year(text)


def _money(match: re.Match[str]) -> str:
    """'$5' -> '5 dollars', '£2.01' -> '2 pounds and 1 penny', '$3 million' -> '3 million dollars'."""
    text = match.group()
    unit = "dollar" if text[0] == "$" else "pound"
    amount = text[1:]
    if amount[-1].isalpha():
        return f"{amount} {unit}s"
    if "." not in amount:
        return f"{amount} {unit}{'' if amount == '1' else 's'}"
    whole, fraction = amount.split(".")
    cents = int(fraction.ljust(2, "0"))
    if text[0] == "$":
        coins = "cent" if cents == 1 else "cents"
    else:
        coins = "penny" if cents == 1 else "pence"
    return f"{whole} {unit}{'' if whole == '1' else 's'} and {cents} {coins}"


def _decimal(match: re.Match[str]) -> str:
    """'3.14' -> '3 point 1 4': digits after the point are read one by one."""
    whole, fraction = match.group().split(".")
    return f"{whole} point {' '.join(fraction)}"


_RULES: list[tuple[re.Pattern[str], Union[str, Callable[[re.Match[str]], str]]]] = [
    (re.compile(r"[^\S \n]"), " "),
    (re.compile(r"  ++"), " "),
    (re.compile(r"(?<=\n) ++(?=\n)"), ""),
    (re.compile(r"\bD[Rr]\.(?= [A-Z])"), "Doctor"),
    (re.compile(r"\b(?:Mr\.|MR\.(?= [A-Z]))"), "Mister"),
    (re.compile(r"\b(?:Ms\.|MS\.(?= [A-Z]))"), "Miss"),
    (re.compile(r"\b(?:Mrs\.|MRS\.(?= [A-Z]))"), "Mrs"),
    (re.compile(r"\betc\.(?! [A-Z])"), "etc"),
    (re.compile(r"(?i)\b(y)eah?\b"), r"\1e'a"),
    (re.compile(r"(?<![\d.])\d*+\.\d++|\b\d{4}s?\b|(?<!:)\b(?:[1-9]|1[0-2]):[0-5]\d\b(?!:)"), _number),
    (re.compile(r"(?<=\d),(?=\d)"), ""),
    (re.compile(r"(?i)[$£]\d++(?:\.\d++)?(?: hundred| thousand| (?:[bm]|tr)illion)*+\b|[$£]\d++\.\d\d?\b"), _money),
    (re.compile(r"(?<![\d.])\d*+\.\d++"), _decimal),
    (re.compile(r"(?<=\d)-(?=\d)"), " to "),
    (re.compile(r"(?<=\d)S"), " S"),
    (re.compile(r"(?<=[BCDFGHJ-NP-TV-Z])'?s\b"), "'S"),
    (re.compile(r"(?<=X')S\b"), "s"),
    (re.compile(r"(?<![A-Za-z.])(?:[A-Za-z]\.){2,}+ [a-z]"), lambda m: m.group().replace(".", "-")),
    (re.compile(r"(?i)(?<=[A-Z])\.(?=[A-Z])"), "-"),
]


def normalize_text(text: str) -> str:
    text = text.translate(_QUOTES)
    for cjk, ascii_mark in CJK_TO_ASCII.items():
        text = text.replace(cjk, ascii_mark)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.strip()
