"""Kokoro v0.19's G2P: v0.19's normalization, espeak-ng through `phonemizer`, then v0.19's fixes.

Only English was trained: `a` speaks en-us, `b` en-gb. Symbols outside the 178-symbol vocab are
dropped (the model never saw them). The output is split into one token per espeak word, so the
chunker can cut a long sentence between words.
"""
import os
import re
import threading
from typing import Any

from ...core.exceptions import InvalidRequest
from ...core.phonemes import PhonemeToken
from .normalize import normalize_text
from .vocab import VOCAB

LANGUAGES = {"a": "en-us", "b": "en-gb"}
LANG_ALIASES = {"en-us": "a", "en": "a", "en-gb": "b"}

# espeak's output -> what v0.19 was trained on.
_SYMBOL_FIXES = str.maketrans({"ʲ": "j", "r": "ɹ", "x": "k", "ɬ": "l"})
# "Kokoro" as the model's name is said (espeak's own guesses, old and newer releases, -> the right one).
_KOKORO = (("kəkˈoːɹoʊ", "kˈoʊkəɹoʊ"), ("kəkˈɔːɹoʊ", "kˈoʊkəɹoʊ"), ("kəkˈɔːɹəʊ", "kˈəʊkəɹəʊ"))
_HUNDRED = re.compile(r"(?<=[a-zɹː])(?=hˈʌndɹɪd)")
_LONE_Z = re.compile(r" z(?=[;:,.!?¡¿—…\"«»“” ]|$)")
_US_NINETY = re.compile(r"(?<=nˈaɪn)ti(?!ː)")


def normalize_lang(code: str) -> str:
    code = LANG_ALIASES.get(code.strip().lower(), code.strip().lower())
    if code not in LANGUAGES:
        raise InvalidRequest(
            f"Kokoro v0.19 speaks only English: lang_code must be 'a' (en-us) or 'b' (en-gb), not {code!r}",
            param="lang_code", code="invalid_lang_code")
    return code


def _espeak_backend(language: str) -> Any:   # phonemizer's EspeakBackend (an untyped package)
    """phonemizer's espeak backend on the espeak-ng that the espeakng-loader wheel ships.

    misaki (v1.0) points phonemizer at that library process-wide; v0.19 uses the same one, so its
    phonemes do not depend on which version happened to load first, nor on the system's espeak-ng.
    PHONEMIZER_ESPEAK_LIBRARY, when set, chooses another library.
    """
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    if not os.environ.get("PHONEMIZER_ESPEAK_LIBRARY"):
        EspeakWrapper.set_library(espeakng_loader.get_library_path())
        EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
    return EspeakBackend(language, preserve_punctuation=True, with_stress=True)


def fix_phonemes(phonemes: str, lang: str) -> str:
    """v0.19's corrections of espeak's output, then only the symbols of the v0.19 vocab."""
    for wrong, right in _KOKORO:
        phonemes = phonemes.replace(wrong, right)
    phonemes = phonemes.translate(_SYMBOL_FIXES)
    phonemes = _HUNDRED.sub(" ", phonemes)
    phonemes = _LONE_Z.sub("z", phonemes)
    if lang == "a":
        phonemes = _US_NINETY.sub("di", phonemes)
    return "".join(p for p in phonemes if p in VOCAB).strip()


# espeak (through phonemizer, which splits out and restores punctuation) costs super-linear time in
# one call's length: 40k characters of punctuation took 3.7x the time per character of 5k. Sentences
# are read in pieces this long, so the cost stays linear; a normal sentence is one piece.
MAX_PIECE_CHARS = 400


def cut_pieces(text: str, limit: int) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters, at the last space before each limit
    (a stretch with no space is cut where the limit falls); nothing is lost but the spaces cut at."""
    pieces, start = [], 0
    while len(text) - start > limit:
        cut = text.rfind(" ", start + 1, start + limit + 1)
        if cut <= start:
            cut = start + limit
        pieces.append(text[start:cut])
        start = cut + 1 if text[cut:cut + 1] == " " else cut
    pieces.append(text[start:])
    return [piece for piece in pieces if piece.strip()]


class EspeakG2P:
    """One espeak backend per language; phonemizer's backends are not thread-safe, hence the lock."""

    def __init__(self, lang: str):
        self.lang = lang
        self._backend = _espeak_backend(LANGUAGES[lang])
        self._lock = threading.Lock()

    def phonemize(self, text: str) -> str:
        normalized = normalize_text(text)
        if not normalized:
            return ""
        with self._lock:
            result = self._backend.phonemize([normalized], strip=True)
        return fix_phonemes(result[0] if result else "", self.lang)

    def __call__(self, text: str) -> list[PhonemeToken]:
        """Phoneme words of ``text``, read in pieces of at most ``MAX_PIECE_CHARS`` (cut at spaces)."""
        tokens: list[PhonemeToken] = []
        for piece in cut_pieces(text, MAX_PIECE_CHARS):
            words = self._words(piece)
            if tokens and words:
                tokens[-1].whitespace = " "
            tokens.extend(words)
        return tokens

    def _words(self, text: str) -> list[PhonemeToken]:
        words = [word for word in self.phonemize(text).split(" ") if word]
        tokens = [PhonemeToken("", word, " ") for word in words]
        written = text.split()
        if len(written) == len(tokens):
            # espeak kept the word count: each phoneme word is the written word at the same place
            for token, word in zip(tokens, written, strict=True):
                token.text = word
        elif tokens:
            tokens[0].text = text   # the chunk's text is the sentence; words are only cut points
        if tokens:
            tokens[-1].whitespace = ""
        return tokens


def make_g2p(lang: str) -> EspeakG2P:
    return EspeakG2P(lang)
