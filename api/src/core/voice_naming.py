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
