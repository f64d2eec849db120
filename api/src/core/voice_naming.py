"""Kokoro's voice naming scheme, the one table of it (the web UI mirrors it in JavaScript).

A voice id is ``<language letter><f|m>_<name>``: ``af_heart`` is Heart, a female American English voice.
Ids outside the scheme (saved mixes, custom packs) get ``None`` for every derived field.
"""
import re
from typing import Iterable, Optional

from typing_extensions import TypedDict  # pydantic reads it as a schema on Python < 3.12 too

# first letter -> (BCP-47 language tag, readable language / accent)
LANGUAGES: dict[str, tuple[str, str]] = {
    "a": ("en-US", "American English"),
    "b": ("en-GB", "British English"),
    "e": ("es", "Spanish"),
    "f": ("fr-FR", "French"),
    "h": ("hi-IN", "Hindi"),
    "i": ("it-IT", "Italian"),
    "j": ("ja-JP", "Japanese"),
    "p": ("pt-BR", "Brazilian Portuguese"),
    "z": ("zh-CN", "Mandarin Chinese"),
}
GENDERS: dict[str, str] = {"f": "female", "m": "male"}
# first letter -> the voice a language alone picks (Wyoming's ``voice.language``): the best-graded voice of
# each language in Kokoro v1.0's voice list
LANGUAGE_VOICES: dict[str, str] = {"a": "af_heart", "b": "bf_emma", "e": "ef_dora", "f": "ff_siwis", "h": "hf_alpha",
                                   "i": "if_sara", "j": "jf_alpha", "p": "pf_dora", "z": "zf_xiaobei"}
_SCHEME = re.compile(r"([a-z])([fm])(?:_(\w+))?")


class VoiceDetails(TypedDict):
    id: str
    name: Optional[str]
    language: Optional[str]
    accent: Optional[str]
    gender: Optional[str]


def voice_details(voice_id: str) -> VoiceDetails:
    """What the id says: readable name ("Heart"), language tag ("en-US"), accent label, gender.

    A scheme id without a name part (v0.19's ``af``) is named by its id; anything outside the scheme
    gets ``None`` fields, never an error.
    """
    match = _SCHEME.fullmatch(voice_id)
    if not match or match.group(1) not in LANGUAGES:
        return VoiceDetails(id=voice_id, name=None, language=None, accent=None, gender=None)
    language, accent = LANGUAGES[match.group(1)]
    rest = match.group(3)
    name = rest.replace("_", " ").title() if rest else voice_id
    return VoiceDetails(id=voice_id, name=name, language=language, accent=accent, gender=GENDERS[match.group(2)])


def ids_named(name: str, voice_ids: Iterable[str]) -> list[str]:
    """The ids among ``voice_ids`` whose readable name is ``name``, in any case (``Heart`` -> ``[af_heart]``),
    sorted; several where languages share a name (``Alpha``: ``hf_alpha``, ``jf_alpha``), none for an
    id or anything else."""
    wanted = name.casefold()
    return sorted(v for v in voice_ids if (voice_details(v)["name"] or "").casefold() == wanted and v != name)


def voice_for_language(language: str, voice_ids: Iterable[str], default: str) -> Optional[str]:
    """The voice among ``voice_ids`` that a language tag alone picks, or None when none speaks it.

    ``language`` is a BCP-47 tag in any case, ``_`` or ``-`` (``en-US``, ``en_gb``, ``fr``): voices of that
    exact tag first, else of its language (``en``: American and British, ``pt-PT``: Brazilian). Among
    them ``default`` (DEFAULT_VOICE) when it is one, else the language's voice of ``LANGUAGE_VOICES``,
    else the first female voice, else the first voice (sorted by id).
    """
    wanted = language.strip().replace("_", "-").casefold()
    ids = sorted(voice_ids)
    tags = {v: (voice_details(v)["language"] or "").casefold() for v in ids}
    found = [v for v in ids if tags[v] and tags[v] == wanted] or \
        [v for v in ids if tags[v] and tags[v].split("-")[0] == wanted.split("-")[0]]
    if not found:
        return None
    preferred = [default, *(LANGUAGE_VOICES[letter] for letter in LANGUAGES if letter in LANGUAGE_VOICES)]
    return next((v for v in preferred if v in found), None) or \
        next((v for v in found if voice_details(v)["gender"] == "female"), found[0])
