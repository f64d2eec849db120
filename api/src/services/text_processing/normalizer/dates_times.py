"""Clock times (with or without am/pm, or Z), ISO 8601 dates and date-times, decades and years."""
from __future__ import annotations

import calendar
import datetime
import re
from typing import Optional

from .patterns import _sentence_ends_after
from .words import cardinal, ordinal, plural, year

# "pm" or "p.m." (whose last period may also end the sentence); a period after a plain "pm" is left alone.
_AM_PM = r"(?:[ ]?(?P<ap>[AaPp])(?:\.[Mm](?P<dot>\.)?|[Mm])(?![\w]))"


def _am_pm(m: re.Match[str]) -> str:
    words = " A M" if m.group("ap") in "Aa" else " P M"
    if m.group("dot") and _sentence_ends_after(m):
        words += "."  # "at 3 p.m. Then" keeps its full stop
    return words


# "Z" after a time (UTC), read as people say it.
_ZULU = r"(?P<zulu>Z)(?![\w])"
_UTC = "U T C"


def _clock(m: re.Match[str]) -> str:
    hour, minute, second, ap = int(m.group("h")), int(m.group("m")), m.group("s"), m.group("ap")
    if minute > 59 or (second and int(second) > 59) or (ap and not 1 <= hour <= 12) or hour > 24:
        return m.group(0)
    words = _time_words(hour, minute, second, ap)
    return words + (_am_pm(m) if ap else "") + (" " + _UTC if m.groupdict().get("zulu") else "")


def _time_words(hour: int, minute: int, second: Optional[str], ap: Optional[str]) -> str:
    """'14:30' -> 'fourteen thirty', '9:00' -> "nine o'clock", '14:00' -> 'fourteen hundred'."""
    words = cardinal(str(hour))
    if minute == 0 and not ap:
        words += " o'clock" if 1 <= hour <= 12 else " hundred"
    elif 1 <= minute <= 9:
        words += " oh " + cardinal(str(minute))
    elif minute:
        words += " " + cardinal(str(minute))
    if second and int(second):
        words += f" and {cardinal(str(int(second)))} second{'s' if int(second) != 1 else ''}"
    return words


# 2026-12-04, 2026-12-04T14:30, 2026-12-04T14:30:05.123Z, 2026-12-04T14:30+02:00 (a space for the T too).
ISO_DATETIME = (r"(?<![\w.,:/-])(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
                r"(?:[T ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.[0-9]{1,9}+)?)?"
                r"(?:(?P<zulu>Z)|(?P<sign>[+-])(?P<oh>[0-9]{2}):?(?P<om>[0-9]{2}))?)?"
                r"(?![\w]|[-:.,/][0-9])")


def _offset(m: re.Match[str]) -> str:
    if m.group("zulu"):
        return " " + _UTC
    if not m.group("sign"):
        return ""
    hours, minutes = int(m.group("oh")), int(m.group("om"))
    if not hours and not minutes:
        return " " + _UTC
    sign = " plus " if m.group("sign") == "+" else " minus "
    return f" {_UTC}{sign}{cardinal(str(hours))}" + (f" {cardinal(str(minutes))}" if minutes else "")


def _iso_datetime(m: re.Match[str]) -> str:
    """'2026-12-04' -> 'December fourth, twenty twenty-six'; with a time: '... at fourteen thirty'.

    Not a real date or time (month 13, February 30th, 25:00, an offset past 14 hours): left as written.
    """
    try:
        day = datetime.date(int(m.group("y")), int(m.group("mo")), int(m.group("d")))
    except ValueError:
        return m.group(0)
    words = f"{calendar.month_name[day.month]} {ordinal(str(day.day))}, {year(m.group('y'))}"
    if m.group("h") is None:
        return words
    hour, minute, second = int(m.group("h")), int(m.group("mi")), m.group("s")
    if hour > 23 or minute > 59 or (second and int(second) > 59) or int(m.group("oh") or 0) > 14 \
            or int(m.group("om") or 0) > 59:
        return m.group(0)
    return f"{words} at {_time_words(hour, minute, second, None)}{_offset(m)}"


def _hour_am_pm(m: re.Match[str]) -> str:
    hour = int(m.group("h"))
    if not 1 <= hour <= 12:
        return m.group(0)
    return cardinal(str(hour)) + _am_pm(m)


def _decade(m: re.Match[str]) -> str:
    """'1980s' -> 'nineteen eighties', "'90s" -> 'nineties'."""
    return plural(year(m.group("y")) if m.group("y") else cardinal(m.group("d")))


def _year(m: re.Match[str]) -> str:
    return year(m.group("y"))
