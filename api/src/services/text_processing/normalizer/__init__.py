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

from ....core.punctuation import KEEP_PUNCTUATION
from ....structures.normalization import NormalizationOptions
from ..mapped_text import MappedText
from .dates_times import _AM_PM, _ZULU, ISO_DATETIME, _clock, _decade, _hour_am_pm, _iso_datetime, _year
from .markdown import strip_markdown
from .numbers import _local_phone, _long_digits, _money, _number, _ordinal, _percent, _phone, _range, _version
from .patterns import _FRACTION, _INT, Rule, _rule
from .symbols import _ABBREVIATION, _abbreviation, _optional_plural, _symbols
from .units import _UNIT_ALTERNATION, _unit
from .web import _TLDS, _URL_BODY, _email, _url
from .words import MAX_DIGITS, cardinal, digits, ordinal, year

__all__ = ["MAX_DIGITS", "RULES", "Rule", "cardinal", "digits", "normalize_text", "ordinal", "year"]


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
    _rule("iso_datetime", ISO_DATETIME, _iso_datetime, r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
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
          + "(?:" + _AM_PM + "|" + _ZULU + ")?", _clock, r"[0-9]:[0-9]"),
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
    _rule("times", r"(?<=[0-9])[ ]?\*[ ]?(?=[0-9])", lambda m: " times ", r"[0-9] ?\*",
          "replace_remaining_symbols"),
    _rule("symbols", r"(?:[^\w\s" + re.escape(KEEP_PUNCTUATION) + r"]|_){1,100}+", _symbols,
          r"[^\w\s" + re.escape(KEEP_PUNCTUATION) + r"]|_", "replace_remaining_symbols"),
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
    Markdown markup goes first (``options.markdown``), so the rules see the words it leaves.
    """
    if not options.normalize:
        return text
    if options.markdown:
        text = strip_markdown(text)
    for rule in RULES:
        if rule.option is not None and not getattr(options, rule.option):
            continue
        if rule.gate.search(text.text) is None:
            continue
        text = text.sub(rule.pattern, rule.repl)
    return text
