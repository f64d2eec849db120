"""Numbers as English words, American style ("one hundred five", no "and"): cardinals, ordinals,
years, decimals and plurals. Runs of more than ``MAX_DIGITS`` digits are read digit by digit."""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

from num2words import num2words

MAX_DIGITS = 15  # up to 999 trillion is read as a number; longer runs digit by digit


# ---------------------------------------------------------------------------------------------
# Numbers as words

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digits(text: str) -> str:
    """'4567' -> 'four five six seven' (ASCII digits only)."""
    return " ".join(_DIGITS[ord(c) - 48] for c in text)


def _american(words: str) -> str:
    # num2words writes British English ("one hundred and five, ..."): drop the "and" and commas.
    return words.replace(",", "").replace(" and ", " ")


_SCALE_WORDS = ("", " thousand", " million", " billion", " trillion")


@lru_cache(maxsize=1000)
def _below_thousand(n: int) -> str:
    return _american(num2words(n))


@lru_cache(maxsize=8192)
def cardinal(text: str) -> str:
    """'1234' -> 'one thousand two hundred thirty-four'; leading zeros or too many digits: digit by digit."""
    text = text.replace(",", "")
    if len(text) > MAX_DIGITS or (len(text) > 1 and text[0] == "0"):
        return digits(text)
    # num2words' own words, composed from cached groups of three digits: num2words takes ~65 µs a
    # number, which a 200,000-character table of distinct numbers turns into seconds.
    n, scale, parts = int(text), 0, []
    while n:
        n, group = divmod(n, 1000)
        if group:
            parts.append(_below_thousand(group) + _SCALE_WORDS[scale])
        scale += 1
    return " ".join(reversed(parts)) if parts else "zero"


@lru_cache(maxsize=4096)
def ordinal(text: str) -> str:
    """'22' -> 'twenty-second'."""
    text = text.replace(",", "")
    if len(text) > MAX_DIGITS:
        return digits(text)
    return _american(num2words(int(text), to="ordinal"))


@lru_cache(maxsize=2048)
def year(text: str) -> str:
    """'1984' -> 'nineteen eighty-four', '2005' -> 'two thousand five', '1905' -> 'nineteen oh five'."""
    return _american(num2words(int(text), to="year")).replace("oh-", "oh ")


def decimal(whole: str, fraction: Optional[str]) -> str:
    """'3', '14' -> 'three point one four' (the fraction is read digit by digit)."""
    words = cardinal(whole) if len(whole.replace(",", "")) <= MAX_DIGITS else digits(whole.replace(",", ""))
    return f"{words} point {digits(fraction)}" if fraction else words


def plural(words: str) -> str:
    """The plural of a spelled number's last word: 'nineteen eighty' -> 'nineteen eighties'."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith("x"):
        return words + "es"
    return words + "s"


def _is_year(text: str) -> bool:
    return len(text) == 4 and ("1100" <= text <= "2099")
