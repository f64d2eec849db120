"""Kokoro v1.0's G2P, as the `kokoro` package does it: misaki for English (espeak-ng for words it does not
know), misaki's espeak G2P for es/fr/hi/it/pt-br, misaki's ja/zh when their extras are installed."""
import importlib
import re
import threading
from collections.abc import Callable
from typing import Any, Optional

from ...core.exceptions import InvalidRequest
from ...core.phonemes import G2P, PhonemeToken

LANGUAGES = {
    "a": "American English", "b": "British English", "e": "es", "f": "fr-fr", "h": "hi",
    "i": "it", "p": "pt-br", "j": "Japanese", "z": "Mandarin Chinese",
}
LANG_ALIASES = {"en-us": "a", "en": "a", "en-gb": "b", "es": "e", "fr-fr": "f", "fr": "f", "hi": "h",
                "it": "i", "pt-br": "p", "pt": "p", "ja": "j", "zh": "z"}
# Languages whose G2P lives in an optional extra of this project: language code -> (extra, modules it
# brings that the G2P imports).
OPTIONAL_LANGUAGES = {"j": ("ja", ("pyopenjtalk", "misaki.ja")),
                      "z": ("zh", ("jieba", "cn2an", "pypinyin", "misaki.zh"))}
_WORD_GROUP = re.compile(r"\S+(?:\s+\S+){0,7}\s*")
# misaki reads a word (a run without whitespace) by trying every span of its subtokens ("a", "-", "1",
# "Ab"...) against its lexicon: cubic in their count, so 250 characters of "a1a1..." took 22 s and 500
# took 150 s. Longer runs are cut into words of at most this many subtokens (a real word has fewer:
# "state-of-the-art" has 7), which keeps the cost linear in the input.
MAX_WORD_SUBTOKENS = 8
_LONG_RUN = re.compile(rf"\S{{{MAX_WORD_SUBTOKENS + 1},}}")
# misaki reads digits joined by commas as one number ("1,234", but "1,2,3" too) and says it with
# num2words, which cannot say one of 306 digits or more (an OverflowError). A number of more digits than
# this (any script's digits) is read digit by digit, as the normalizer reads long runs of ASCII digits.
MAX_NUMBER_DIGITS = 15
_NUMBER = re.compile(r"\d++(?:,\d++)*+")
# spaCy's tokenizer splits a run of one repeated symbol ("____") a character at a time, rescanning the rest
# each time: quadratic (4,000 underscores took seconds). Runs longer than this are cut by spaces; a real
# text's rules and blanks are shorter, and keep their phonemes.
MAX_SYMBOL_RUN = 64
_SYMBOL_RUN = re.compile(rf"([^\w\s]|_)\1{{{MAX_SYMBOL_RUN},}}")
# misaki reads "[text](feature)" links with a pattern that scans from every "[" to the next "]" (and
# from "](" to the next ")"): quadratic when many "[" have no link to close. Past this many characters
# scanned in one sentence, every "[" that cannot start a link is read as "(" (the same punctuation to
# spaCy), so no scan starts there; below it, the text is misaki's unchanged.
MAX_LINK_SCAN = 200_000


def normalize_lang(code: str) -> str:
    code = code.strip().lower()
    code = LANG_ALIASES.get(code, code)
    if code not in LANGUAGES:
        raise InvalidRequest(
            f"unknown lang_code {code!r}; use one of {', '.join(sorted(LANGUAGES))}", param="lang_code",
            code="invalid_lang_code")
    return code


class _Locked:
    """misaki's G2P objects keep state while they run; one caller at a time."""

    def __init__(self, fn: Callable[[str], Any]):
        self._fn = fn
        self._lock = threading.Lock()

    def __call__(self, text: str) -> Any:   # misaki's (phonemes, tokens): untyped
        with self._lock:
            return self._fn(text)


def cut_long_words(text: str, subtokenize: Callable[[str], list[str]], limit: int = MAX_WORD_SUBTOKENS) -> str:
    """``text`` with every whitespace-free run of more than ``limit`` subtokens (as ``subtokenize`` splits
    a word) cut by spaces into runs of ``limit``; no character is dropped or moved."""

    def cut(match: re.Match[str]) -> str:
        run: str = match.group(0)
        pieces = subtokenize(run)
        if len(pieces) <= limit:
            return run
        starts, pos = [0], 0
        for index, piece in enumerate(pieces):
            at = run.find(piece, pos)
            if at < 0:      # not a substring as found: keep what was cut so far, the rest as one piece
                break
            if index and index % limit == 0:
                starts.append(at)
            pos = at + len(piece)
        return " ".join(run[a:b] for a, b in zip(starts, starts[1:] + [len(run)], strict=True))

    return _LONG_RUN.sub(cut, text)


def spell_long_numbers(text: str, limit: int = MAX_NUMBER_DIGITS) -> str:
    """``text`` with every number (digits joined by commas) of more than ``limit`` digits spelt as single
    digits, a space after each digit and comma: misaki then reads it digit by digit, whatever its script.
    No character is dropped or moved."""

    def spell(match: re.Match[str]) -> str:
        number: str = match.group(0)
        if len(number) - number.count(",") <= limit:
            return number
        return ", ".join(" ".join(group) for group in number.split(","))

    return _NUMBER.sub(spell, text)


def cut_symbol_runs(text: str, limit: int = MAX_SYMBOL_RUN) -> str:
    """``text`` with every run of more than ``limit`` of one symbol cut by spaces into runs of ``limit``."""
    return _SYMBOL_RUN.sub(lambda m: " ".join(m[0][i:i + limit] for i in range(0, len(m[0]), limit)), text)


def defuse_links(text: str, budget: int = MAX_LINK_SCAN) -> str:
    """``text`` unchanged when misaki's link pattern scans at most ``budget`` characters in it; else with
    each "[" that starts no link ("[" up to the next "]", then "(", then a ")" later) as "(".
    Linear: next "]" and last ")" are found in one pass each."""
    if text.count("[") * len(text) <= budget:
        return text
    last_paren = text.rfind(")")
    out = list(text)
    close = -1   # the next "]" at or after the position being read, scanning backwards
    for i in range(len(text) - 1, -1, -1):
        c = text[i]
        if c == "]":
            close = i
        elif c == "[":
            links = close > i + 1 and text[close + 1:close + 2] == "(" and last_paren > close + 1
            if not links:
                out[i] = "("
    return "".join(out)


def defuse(text: str, subtokenize: Callable[[str], list[str]]) -> str:
    """What misaki reads of ``text``: links defused, long symbol runs and long words cut (each linear)."""
    return cut_long_words(cut_symbol_runs(defuse_links(text)), subtokenize)


class TokenG2P:
    """A misaki G2P that returns words (``MToken``s) with their phonemes: word-level captions.

    ``prepare`` rewrites the text first (English: `defuse`)."""

    def __init__(self, g2p: Callable[[str], Any], prepare: Optional[Callable[[str], str]] = None):
        self._g2p = _Locked(g2p)
        self._prepare = prepare

    def __call__(self, text: str) -> list[PhonemeToken]:
        if self._prepare is not None:
            text = self._prepare(text)
        _, tokens = self._g2p(text)
        return [PhonemeToken(t.text, t.phonemes or "", t.whitespace) for t in tokens]


def english_g2p(british: bool) -> TokenG2P:
    from misaki import en, espeak

    try:
        fallback = espeak.EspeakFallback(british=british)
    except Exception:  # espeak-ng missing: misaki still speaks every word it knows
        fallback = None
    return TokenG2P(en.G2P(trf=False, british=british, fallback=fallback, unk=""),
                    prepare=lambda text: defuse(spell_long_numbers(text), en.subtokenize))


class PhraseG2P:
    """G2P that only phonemizes whole strings: feed it groups of a few words, one token each."""

    def __init__(self, g2p: Callable[[str], Any]):
        self._g2p = _Locked(g2p)

    def __call__(self, text: str) -> list[PhonemeToken]:
        tokens = []
        for match in _WORD_GROUP.finditer(text):
            group = match.group(0)
            phonemes, _ = self._g2p(group.strip())
            tokens.append(PhonemeToken(group.strip(), (phonemes or "").strip(), " " if group[-1:].isspace() else ""))
        return tokens


def require_language(lang: str, import_module: Callable[[str], object] = importlib.import_module) -> None:
    """Nothing when ``lang``'s G2P can be imported (or needs no extra); else ``InvalidRequest`` (400,
    ``language_unavailable``) naming the extra to install and how."""
    if lang not in OPTIONAL_LANGUAGES:
        return
    extra, modules = OPTIONAL_LANGUAGES[lang]
    for module in modules:
        try:
            import_module(module)
        except ImportError as exc:
            raise InvalidRequest(
                f"{LANGUAGES[lang]} needs the optional extra kokoro-server[{extra}], not installed on this "
                f"server (missing {exc.name or module}): install it with `pip install -e '.[{extra}]'` or "
                f"`bash scripts/install.sh --lang {extra}`", param="lang_code", code="language_unavailable",
            ) from exc


def make_g2p(lang: str) -> G2P:
    if lang in "ab":
        return english_g2p(british=lang == "b")
    require_language(lang)
    try:
        if lang == "j":
            # misaki's default ("cutlet") needs unidic's dictionary, a download; pyopenjtalk-plus ships
            # OpenJTalk's dictionary in its wheel, so this path works offline.
            from misaki import ja
            return TokenG2P(ja.JAG2P(version="pyopenjtalk"))
        if lang == "z":
            from misaki import zh
            return PhraseG2P(zh.ZHG2P(version=None))
        from misaki import espeak
        return PhraseG2P(espeak.EspeakG2P(language=LANGUAGES[lang]))
    except ImportError as exc:
        raise InvalidRequest(
            f"{LANGUAGES[lang]} is not installed on this server ({exc.name or exc})", param="lang_code",
            code="language_unavailable") from exc
