"""The pieces every rule is built from: a ``Rule`` (pattern, replacement, gate, option switch) and the
number patterns (ASCII digits only) the rules share."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

# ---------------------------------------------------------------------------------------------
# Building blocks of the patterns (ASCII digits only: \d would match digits int() reads differently)

_INT = r"(?:[0-9]{1,3}(?:,[0-9]{3}){1,4}+(?![0-9])|[0-9]{1,15}+(?![0-9]))"  # 1,234,567 or 1234567
_FRACTION = r"(?:\.(?P<frac>[0-9]{1,15}+)(?![0-9]))?"
_HAS_DIGIT = re.compile(r"[0-9]")


def _sentence_ends_after(match: re.Match[str]) -> bool:
    """Whether the period a match swallowed also ended its sentence (end of text, line, or a capital)."""
    s, end = match.string, match.end()
    if end >= len(s) or s[end] == "\n":
        return True
    return s[end] == " " and end + 1 < len(s) and s[end + 1].isupper()


@dataclass(frozen=True)
class Rule:
    """One rewrite: ``pattern`` replaced by ``repl`` when ``gate`` finds something in the text.

    ``option`` names the ``NormalizationOptions`` switch that turns the rule off (None: always on).
    The gate is a cheap search that skips the rule's pass (and its copy of the map) when it cannot match.
    """

    name: str
    pattern: re.Pattern[str]
    repl: Callable[[re.Match[str]], str]
    gate: re.Pattern[str]
    option: Optional[str] = None


def _rule(name: str, pattern: str, repl: Callable[[re.Match[str]], str], gate: str, option: Optional[str] = None,
          flags: int = 0) -> Rule:
    return Rule(name, re.compile(pattern, flags), repl, re.compile(gate), option)
