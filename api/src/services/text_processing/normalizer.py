"""English text normalization: write numbers, money, times, symbols, URLs ... out as words.

``normalize_text`` takes and returns a ``MappedText``: every rewrite goes through ``MappedText.sub``,
so each character of the result still maps to the span of the user's original input it stands for
("five dollars and fifty cents" maps to the "$5.50" the user wrote).

The rules are English only; the caller decides for which languages to call this. Words are American
style ("one hundred five", no "and"). Each rule is linear in the input: every pattern starts behind a
lookbehind that a search cannot restart inside, its runs are possessive or bounded, and numbers of
more than ``MAX_DIGITS`` digits are read digit by digit, so a 200,000-character adversarial input costs
one pass per rule.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional

from num2words import num2words
from pydantic import BaseModel

from .mapped_text import MappedText

MAX_DIGITS = 15  # up to 999 trillion is read as a number; longer runs digit by digit


class NormalizationOptions(BaseModel):
    """The request's ``normalization_options`` (Kokoro-FastAPI's names and defaults)."""

    normalize: bool = True  # master switch: False passes the text through unchanged
    unit_normalization: bool = False  # "10KB" -> "10 kilobytes" (opt-in: "5 m" could be minutes)
    url_normalization: bool = True
    email_normalization: bool = True
    optional_pluralization_normalization: bool = True  # "word(s)" -> "words"
    phone_normalization: bool = True
    replace_remaining_symbols: bool = True  # "&" -> "and", unspeakable symbols -> space


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


# ---------------------------------------------------------------------------------------------
# Building blocks of the patterns (ASCII digits only: \d would match digits int() reads differently)

_INT = r"(?:[0-9]{1,3}(?:,[0-9]{3}){1,4}+(?![0-9])|[0-9]{1,15}+(?![0-9]))"  # 1,234,567 or 1234567
_FRACTION = r"(?:\.(?P<frac>[0-9]{1,15}+)(?![0-9]))?"
_HAS_DIGIT = re.compile(r"[0-9]")


def _sentence_ends_after(match: re.Match) -> bool:
    """Whether the period a match swallowed also ended its sentence (end of text, line, or a capital)."""
    s, end = match.string, match.end()
    if end >= len(s) or s[end] == "\n":
        return True
    return s[end] == " " and end + 1 < len(s) and s[end + 1].isupper()


# ---------------------------------------------------------------------------------------------
# Addresses: emails and URLs, read piece by piece

_ADDRESS_SYMBOLS = {
    ".": "dot", "@": "at", "/": "slash", ":": "colon", "-": "dash", "_": "underscore", "+": "plus",
    "?": "question mark", "=": "equals", "&": "and", "#": "hash", "%": "percent", "~": "tilde",
}
_ADDRESS_TOKEN = re.compile(r"[^\W\d_]++|[0-9]++|.", re.DOTALL)


def speak_address(text: str) -> str:
    """'jane.doe@example.co.uk' -> 'jane dot doe at example dot co dot uk'.

    Short digit groups are read as numbers, longer ones (ports, ids) digit by digit.
    """
    words = []
    for token in _ADDRESS_TOKEN.findall(text):
        if token[0] in "0123456789":
            words.append(cardinal(token) if len(token) <= 3 else digits(token))
        elif token in _ADDRESS_SYMBOLS:
            words.append(_ADDRESS_SYMBOLS[token])
        elif token.isalnum():
            words.append(token)
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# The rules


@dataclass(frozen=True)
class Rule:
    """One rewrite: ``pattern`` replaced by ``repl`` when ``gate`` finds something in the text.

    ``option`` names the ``NormalizationOptions`` switch that turns the rule off (None: always on).
    The gate is a cheap search that skips the rule's pass (and its copy of the map) when it cannot match.
    """

    name: str
    pattern: re.Pattern
    repl: Callable[[re.Match], str]
    gate: re.Pattern
    option: Optional[str] = None


def _optional_plural(m: re.Match) -> str:
    return m.group(1)


def _email(m: re.Match) -> str:
    return speak_address(m.group(0))


def _url(m: re.Match) -> str:
    text = m.group(0)
    scheme, sep, rest = text.partition("://")
    if sep:
        return f"{scheme} colon slash slash {speak_address(rest)}".rstrip()
    return speak_address(text)


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


def _abbreviation(m: re.Match) -> str:
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


def _phone(m: re.Match) -> str:
    """'+1 (555) 123-4567' -> 'plus one, five five five, one two three, four five six seven'."""
    cc, area = m.group("cc") or m.group("cc1"), m.group("area1") or m.group("area2")
    if m.group("area2") and m.group("sep1") == " " and m.group("sep2") == " " and not cc:
        return m.group(0)  # "100 200 3000" is more likely three numbers than a phone number
    groups = [digits(area), digits(m.group("exchange")), digits(m.group("line"))]
    if cc:
        groups.insert(0, "plus " + digits(cc[1:]) if cc.startswith("+") else digits(cc))
    return ", ".join(groups)


def _local_phone(m: re.Match) -> str:
    return f"{digits(m.group(1))}, {digits(m.group(2))}"


_CURRENCIES = {  # symbol: (one, many, one hundredth, many hundredths)
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
}
_SCALES = {"k": "thousand", "m": "million", "b": "billion", "t": "trillion"}


def _money(m: re.Match) -> str:
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


def _version(m: re.Match) -> str:
    parts = m.group("num").split(".")
    spoken = " point ".join(cardinal(p) if len(p) == 1 or p[0] != "0" else digits(p) for p in parts)
    if m.group("v"):
        return "version " + spoken
    if len(parts) >= 3 or m.string[max(0, m.start() - 8):m.start()].lower() == "version ":
        return spoken
    return m.group(0)  # "3.14" is a decimal: the number rule reads it


def _ordinal(m: re.Match) -> str:
    return ordinal(m.group("n"))


def _percent(m: re.Match) -> str:
    sign = "minus " if m.group("neg") else ""
    return f"{sign}{decimal(m.group('int'), m.group('frac'))} percent"


_UNITS = {  # written form: (one, many)
    "KB": ("kilobyte", "kilobytes"), "kB": ("kilobyte", "kilobytes"), "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"), "PB": ("petabyte", "petabytes"),
    "Kbps": ("kilobit per second", "kilobits per second"), "kbps": ("kilobit per second", "kilobits per second"),
    "Mbps": ("megabit per second", "megabits per second"), "Gbps": ("gigabit per second", "gigabits per second"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"), "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"), "mm": ("millimeter", "millimeters"), "m": ("meter", "meters"),
    "kg": ("kilogram", "kilograms"), "mg": ("milligram", "milligrams"), "g": ("gram", "grams"),
    "lbs": ("pound", "pounds"), "lb": ("pound", "pounds"), "oz": ("ounce", "ounces"),
    "ft": ("foot", "feet"), "mi": ("mile", "miles"), "ms": ("millisecond", "milliseconds"),
    "min": ("minute", "minutes"), "s": ("second", "seconds"), "h": ("hour", "hours"),
    "hr": ("hour", "hours"), "hrs": ("hour", "hours"),
    "°C": ("degree Celsius", "degrees Celsius"), "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "kWh": ("kilowatt hour", "kilowatt hours"), "kW": ("kilowatt", "kilowatts"), "W": ("watt", "watts"),
    "V": ("volt", "volts"), "GHz": ("gigahertz", "gigahertz"), "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"), "Hz": ("hertz", "hertz"), "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"), "L": ("liter", "liters"),
}
# Longest first, so "km/h" is tried before "km" and "mph" before "m".
_UNIT_ALTERNATION = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))


def _unit(m: re.Match) -> str:
    s, at = m.string, m.start()
    # Only the unit is rewritten (the number keeps its own map); it is singular after a lone "1".
    spaced = s[at - 1] == " "
    end = at - 1 if spaced else at
    singular = s[end - 1] == "1" and (end < 2 or not (s[end - 2].isdigit() or s[end - 2] in ".,"))
    one, many = _UNITS[m.group("u")]
    return ("" if spaced else " ") + (one if singular else many)


# Symbols: a word, "" (delete), " " (a word break) or None (keep the character).
_SYMBOL_WORDS = {
    "&": "and", "%": "percent", "@": "at", "+": "plus", "=": "equals", "°": "degrees", "×": "times",
    "÷": "divided by", "±": "plus or minus", "−": "minus", "$": "dollar", "€": "euro", "£": "pound",
    "¥": "yen", "©": "copyright", "®": "registered", "™": "trademark", "§": "section", "‰": "per mille",
}
_KEEP_PUNCTUATION = ".,;:!?'\"()[]{}-–—‐‑‒…/‘’“”«»„‚‹›¿¡·"
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


_OPENING = "([{\"'“‘«„‚‹¿¡"
_CLOSING = ".,;:!?)]}\"'”’»›…"


def _symbols(m: re.Match) -> str:
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
        joins = breaks and not (before.isspace() or before in _OPENING or after.isspace() or after in _CLOSING)
        return " " if joins else ""
    if not (before.isspace() or before in _OPENING):
        text = " " + text
    if not (after.isspace() or after in _CLOSING):
        text += " "
    return text


def _decade(m: re.Match) -> str:
    """'1980s' -> 'nineteen eighties', "'90s" -> 'nineties'."""
    return plural(year(m.group("y")) if m.group("y") else cardinal(m.group("d")))


def _year(m: re.Match) -> str:
    return year(m.group("y"))


def _range_side(text: str, both_years: bool) -> str:
    whole, _, frac = text.partition(".")
    return year(whole) if both_years and not frac else decimal(whole, frac or None)


def _range(m: re.Match) -> str:
    a, b = m.group("a"), m.group("b")
    both_years = _is_year(a) and _is_year(b)
    return f"{_range_side(a, both_years)} to {_range_side(b, both_years)}"


def _number(m: re.Match) -> str:
    words = decimal(m.group("int"), m.group("frac"))
    if m.group("neg"):
        words = "minus " + words
    end = m.end()
    if end < len(m.string) and m.string[end].isalpha():
        words += " "  # "3D" -> "three D", not "threeD"
    return words


def _long_digits(m: re.Match) -> str:
    return digits(m.group(0))


def _rule(name, pattern, repl, gate, option=None, flags=0) -> Rule:
    return Rule(name, re.compile(pattern, flags), repl, re.compile(gate), option)


_TLDS = r"(?:com|org|net|edu|gov|io|ai|dev|app|co|uk|us|info|biz)"
_URL_BODY = r"[^\s<>\"]{0,2000}[^\s<>\".,;:!?'()\[\]{}]"  # the last character is not punctuation

# In order: addresses first (they contain dots, digits and symbols other rules would take), then
# money, times and versions (which contain numbers), then symbols, and plain numbers last.
RULES: tuple[Rule, ...] = (
    _rule("optional_plural", r"(?<=[^\W\d_])\((e?s)\)", _optional_plural, r"\(e?s\)",
          "optional_pluralization_normalization"),
    _rule("email", r"(?<![\w.+-])[\w.+-]{1,64}+@[\w-]{1,63}+(?:\.[\w-]{1,63}+){1,8}+(?![\w-])",
          _email, "@", "email_normalization"),
    _rule("url", r"(?<![\w/.@-])(?:(?:https?|ftp)://|www\.)" + _URL_BODY, _url, r"://|www\.",
          "url_normalization", re.IGNORECASE),
    _rule("domain", r"(?<![\w/.@-])[\w-]{1,63}+(?:\.[\w-]{1,63}+){0,8}\." + _TLDS
          + r"(?![\w-]|\.[\w-])(?:/" + _URL_BODY + r")?", _url, r"\." + _TLDS + r"\b", "url_normalization"),
    _rule("abbreviation", _ABBREVIATION, _abbreviation, r"[A-Za-z]\.|[Vv]s"),
    _rule("phone", r"(?<![\w+])(?:(?P<cc>\+[0-9]{1,3}+)[ .-]?|(?P<cc1>1)[ .-])?"
          r"(?:\((?P<area1>[0-9]{3})\)[ ]?|(?P<area2>[0-9]{3})(?P<sep1>[ .-]))"
          r"(?P<exchange>[0-9]{3})(?P<sep2>[ .-])(?P<line>[0-9]{4})(?![\w]|[.-][0-9])",
          _phone, r"[0-9]{3}[ .)-]", "phone_normalization"),
    _rule("local_phone", r"(?<![\w+().,-])([0-9]{3})-([0-9]{4})(?![\w]|[.,-][0-9])", _local_phone,
          r"[0-9]{3}-[0-9]{4}", "phone_normalization"),
    _rule("money", r"(?<![\w$£€¥.,])(?P<neg>[-−])?(?P<cur>[$£€¥])[ ]?(?P<int>" + _INT + r"|(?=\.[0-9]))" + _FRACTION
          + r"(?:(?P<suf>[kKmMbBtT])(?![\w])|[ ](?P<word>thousand|million|billion|trillion)\b)?",
          _money, r"[$£€¥]"),
    _rule("money_after", r"(?<![\w.,])(?P<int>" + _INT + ")" + _FRACTION + r"[ ]?(?P<cur>[$£€¥])(?![\w$£€¥])",
          _money, r"[$£€¥]"),
    _rule("clock", r"(?<![0-9:.,])(?P<h>[0-9]{1,2}+):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2}))?(?![0-9]|:[0-9])"
          + _AM_PM + "?", _clock, r"[0-9]:[0-9]"),
    _rule("hour_am_pm", r"(?<![0-9:.,])(?P<h>[0-9]{1,2}+)" + _AM_PM, _hour_am_pm, r"[0-9] ?[AaPp]\.?[Mm]"),
    _rule("version", r"(?<![\w.])(?P<v>[vV])?(?P<num>[0-9]{1,4}+(?:\.[0-9]{1,4}+){1,5}+)(?![\w]|\.[0-9])",
          _version, r"[0-9]\.[0-9]"),
    _rule("ordinal", r"(?<![\w.,])(?P<n>" + _INT + r")(?:st|nd|rd|th|ST|ND|RD|TH)(?!\w)", _ordinal,
          r"[0-9](?:st|nd|rd|th|ST|ND|RD|TH)"),
    _rule("decade", r"(?<![\w.,])(?:'?(?P<d>[1-9]0)|(?P<y>(?:1[1-9]|20)[0-9]0))s(?!\w)", _decade, r"0s"),
    _rule("unit", r"(?:(?<=[0-9])|(?<=[0-9][ ]))(?P<u>" + _UNIT_ALTERNATION + r")(?![\w/])", _unit, r"[0-9]",
          "unit_normalization"),
    _rule("range", r"(?<![\w.,:/-])(?P<a>" + _INT + r"(?:\.[0-9]{1,15}+(?![0-9]))?)[ ]?[-–—][ ]?"
          r"(?P<b>" + _INT + r"(?:\.[0-9]{1,15}+(?![0-9]))?)(?![\w]|[.,:/-][0-9])", _range, r"[0-9] ?[-–—]"),
    _rule("percent", r"(?<![\w.,])(?P<neg>[-−])?(?P<int>" + _INT + ")" + _FRACTION + r"[ ]?%", _percent, "%"),
    _rule("symbols", r"(?:[^\w\s" + re.escape(_KEEP_PUNCTUATION) + r"]|_){1,100}+", _symbols,
          r"[^\w\s" + re.escape(_KEEP_PUNCTUATION) + r"]|_", "replace_remaining_symbols"),
    _rule("year", r"(?<![\w.,$£€¥-])(?P<y>1[1-9][0-9]{2}|20[0-9]{2})(?![\w]|[.,][0-9])", _year,
          r"[12][0-9]{3}"),
    _rule("number", r"(?:(?<![\w.,\-−])(?P<neg>[-−]))?(?<![\w.])(?P<int>" + _INT + ")" + _FRACTION
          + r"(?![0-9]|\.[0-9])", _number, r"[0-9]"),
    _rule("long_digits", r"(?<![0-9])[0-9]{16,}+", _long_digits, r"[0-9]{16}"),
)


def normalize_text(text: MappedText, options: NormalizationOptions = NormalizationOptions()) -> MappedText:
    """``text`` with numbers, money, times, symbols, URLs ... written out as English words.

    Every character of the result maps to the original span it stands for (see ``MappedText``).
    ``options.normalize=False`` returns ``text`` itself; each other switch turns its rule off.
    """
    if not options.normalize:
        return text
    for rule in RULES:
        if rule.option is not None and not getattr(options, rule.option):
            continue
        if rule.gate.search(text.text) is None:
            continue
        text = text.sub(rule.pattern, rule.repl)
    return text
