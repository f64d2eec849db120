"""URLs, domains and e-mail addresses, read piece by piece as people say them.

"https://www.example.com/docs/" -> "example dot com slash docs": the scheme (``http://``, ``https://``,
``ftp://``), a leading ``www.`` and a trailing ``/`` are not read; the rest is read piece by piece (words
as words, short numbers as numbers, longer ones digit by digit, symbols by name).
"user@example.org" -> "user at example dot org".
"""
from __future__ import annotations

import re

from .words import cardinal, digits

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


def _email(m: re.Match[str]) -> str:
    return speak_address(m.group(0))


_SPOKEN_URL = re.compile(r"(?:[A-Za-z]{1,8}://)?(?:www\.)?(?P<rest>.*?)/?", re.DOTALL)


def _url(m: re.Match[str]) -> str:
    """The address without its scheme, ``www.`` and trailing slash (see the module docstring)."""
    spoken = _SPOKEN_URL.fullmatch(m.group(0))
    assert spoken is not None   # every string matches: the scheme and www. are optional, rest is .*?
    rest = spoken.group("rest")
    return speak_address(rest) if rest else m.group(0)


_TLDS = r"(?:com|org|net|edu|gov|io|ai|dev|app|co|uk|us|info|biz)"
_URL_BODY = r"[^\s<>\"]{0,2000}[^\s<>\".,;:!?'()\[\]{}]"  # the last character is not punctuation
