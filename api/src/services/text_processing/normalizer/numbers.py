"""Numbers in context: money, phone numbers, versions, ordinals, percentages, ranges and plain numbers."""
from __future__ import annotations

import re

from .words import _is_year, cardinal, decimal, digits, ordinal, year


def _phone(m: re.Match[str]) -> str:
    """'+1 (555) 123-4567' -> 'plus one, five five five, one two three, four five six seven'."""
    cc, area = m.group("cc") or m.group("cc1"), m.group("area1") or m.group("area2")
    if m.group("area2") and m.group("sep1") == " " and m.group("sep2") == " " and not cc:
        return m.group(0)  # "100 200 3000" is more likely three numbers than a phone number
    groups = [digits(area), digits(m.group("exchange")), digits(m.group("line"))]
    if cc:
        groups.insert(0, "plus " + digits(cc[1:]) if cc.startswith("+") else digits(cc))
    return ", ".join(groups)


def _local_phone(m: re.Match[str]) -> str:
    return f"{digits(m.group(1))}, {digits(m.group(2))}"


_CURRENCIES = {  # symbol: (one, many, one hundredth, many hundredths)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
}
_SCALES = {"k": "thousand", "m": "million", "b": "billion", "t": "trillion"}


def _money(m: re.Match[str]) -> str:
    one, many, cent, cents = _CURRENCIES[m.group("cur")]
    whole, frac = m.group("int") or "0", m.group("frac")
    sign = "minus " if m.groupdict().get("neg") else ""
    scale = m.groupdict().get("suf") or m.groupdict().get("word")
    if scale:
        scale = _SCALES.get(scale.lower(), scale.lower())
        return f"{sign}{decimal(whole, frac)} {scale} {many}"
    amount = f"{decimal(whole, None)} {one if whole == '1' else many}"
    if frac is None or (len(frac) > 2 or cent is None):
        if frac is None:
            return sign + amount
        return f"{sign}{decimal(whole, frac)} {many}"
    hundredths = int(frac.ljust(2, "0"))
    if hundredths == 0:
        return sign + amount
    change = f"{cardinal(str(hundredths))} {cent if hundredths == 1 else cents}"
    if whole.strip("0,") == "":
        return sign + change
    return f"{sign}{amount} and {change}"


def _version(m: re.Match[str]) -> str:
    parts = m.group("num").split(".")
    spoken = " point ".join(cardinal(p) if len(p) == 1 or p[0] != "0" else digits(p) for p in parts)
    if m.group("v"):
        return "version " + spoken
    if len(parts) >= 3 or m.string[max(0, m.start() - 8):m.start()].lower() == "version ":
        return spoken
    return m.group(0)  # "3.14" is a decimal: the number rule reads it


def _ordinal(m: re.Match[str]) -> str:
    return ordinal(m.group("n"))


def _percent(m: re.Match[str]) -> str:
    sign = "minus " if m.group("neg") else ""
    return f"{sign}{decimal(m.group('int'), m.group('frac'))} percent"


def _range_side(text: str, both_years: bool) -> str:
    whole, _, frac = text.partition(".")
    return year(whole) if both_years and not frac else decimal(whole, frac or None)


def _range(m: re.Match[str]) -> str:
    a, b = m.group("a"), m.group("b")
    both_years = _is_year(a) and _is_year(b)
    return f"{_range_side(a, both_years)} to {_range_side(b, both_years)}"


def _number(m: re.Match[str]) -> str:
    words = decimal(m.group("int"), m.group("frac"))
    if m.group("neg"):
        words = "minus " + words
    end = m.end()
    if end < len(m.string) and m.string[end].isalpha():
        words += " "  # "3D" -> "three D", not "threeD"
    return words


def _long_digits(m: re.Match[str]) -> str:
    return digits(m.group(0))
