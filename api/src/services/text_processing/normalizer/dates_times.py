"""Clock times (with or without am/pm), decades and years."""
from __future__ import annotations

import re

from .words import cardinal, plural, year
from .patterns import _sentence_ends_after


# "pm" or "p.m." (whose last period may also end the sentence); a period after a plain "pm" is left alone.
_AM_PM = r"(?:[ ]?(?P<ap>[AaPp])(?:\.[Mm](?P<dot>\.)?|[Mm])(?![\w]))"


def _am_pm(m: re.Match) -> str:
    words = " A M" if m.group("ap") in "Aa" else " P M"
    if m.group("dot") and _sentence_ends_after(m):
        words += "."  # "at 3 p.m. Then" keeps its full stop
    return words


def _clock(m: re.Match) -> str:
    hour, minute, second, ap = int(m.group("h")), int(m.group("m")), m.group("s"), m.group("ap")
    if minute > 59 or (second and int(second) > 59) or (ap and not 1 <= hour <= 12) or hour > 24:
        return m.group(0)
    words = cardinal(str(hour))
    if minute == 0 and not ap:
        words += " o'clock" if 1 <= hour <= 12 else " hundred"
    elif 1 <= minute <= 9:
        words += " oh " + cardinal(str(minute))
    elif minute:
        words += " " + cardinal(str(minute))
    if second and int(second):
        words += f" and {cardinal(str(int(second)))} second{'s' if int(second) != 1 else ''}"
    return words + (_am_pm(m) if ap else "")


def _hour_am_pm(m: re.Match) -> str:
    hour = int(m.group("h"))
    if not 1 <= hour <= 12:
        return m.group(0)
    return cardinal(str(hour)) + _am_pm(m)


def _decade(m: re.Match) -> str:
    """'1980s' -> 'nineteen eighties', "'90s" -> 'nineties'."""
    return plural(year(m.group("y")) if m.group("y") else cardinal(m.group("d")))


def _year(m: re.Match) -> str:
    return year(m.group("y"))
