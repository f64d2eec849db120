"""Voice resolution for a speech request: which voice, pack, pace and G2P each segment is spoken with.

``resolve_voice`` turns a voice spec (a name, an OpenAI name, a readable name such as "Heart" that a
voice picker shows, a mix) into the version's pack, and says when a name belongs to another model
version. ``Voicings`` applies the request's aliases and rates to each segment's spec, once per distinct
pair, and hands the planner the ``Voicing``.
"""
from typing import Optional

import anyio
import torch

from ...core.exceptions import InvalidRequest, quote
from ...core.voice_naming import ids_named
from ...inference.backend import KokoroBackend
from ...inference.model_manager import ModelManager
from ...inference.voices import MixTerm, VoiceLibrary, format_mix, parse_mix
from ...structures.schemas import SpeechRequest, VoiceAlias
from ..text_processing.pipeline import Voicing
from ..text_processing.segments import SpeechSegment
from ..text_processing.text_work import Deadline, TextWork

ENGLISH = ("a", "b")


async def resolve_voice(manager: ModelManager, backend: KokoroBackend, spec: str) -> tuple[str, torch.Tensor]:
    """A voice spec's canonical name and pack; a name that belongs to another version gets an error
    saying so (a name no version has gets the plain unknown-voice error)."""
    try:
        return await anyio.to_thread.run_sync(backend.voices.resolve, spec)
    except InvalidRequest as exc:
        if exc.code != "voice_not_found":
            raise
        by_id = _ids_for_readable_names(spec, backend.voices)
        if by_id != spec:
            return await anyio.to_thread.run_sync(backend.voices.resolve, by_id)
        terms = parse_mix(backend.voices.openai_names.get(spec.strip(), spec))
        own = set(backend.voices.names())
        foreign = {t.name: manager.versions_with_voice(t.name) for t in terms if t.name not in own}
        if not all(foreign.values()):
            raise
        names = ", ".join(f"{name!r} ({', '.join(versions)})" for name, versions in foreign.items())
        mixing = len(foreign) < len(terms)
        raise InvalidRequest(
            f"voice {names} belongs to another model version than {backend.spec.model_id}"
            f"{'; voices cannot be mixed across model versions' if mixing else ''}. "
            f"{backend.spec.model_id} voices: {', '.join(sorted(own))}",
            param="voice", code="voice_not_in_model") from exc


def _ids_for_readable_names(spec: str, library: VoiceLibrary) -> str:
    """``spec`` with each readable name ("Heart", as voice pickers show and send back) replaced by the id
    of the one voice of this version that has it (af_heart); unchanged where nothing is replaced. A name
    several voices share is a 400 that lists their ids."""
    try:
        terms = parse_mix(spec)
    except InvalidRequest:
        return spec
    own = library.names()
    replaced = []
    for term in terms:
        ids = [] if term.name in own or term.name in library.openai_names else ids_named(term.name, own)
        if len(ids) > 1:
            raise InvalidRequest(f"voice {quote(term.name)} is the name of {len(ids)} voices: {', '.join(ids)}; "
                                 "send one of these ids", param="voice", code="ambiguous_voice")
        replaced.append(MixTerm(ids[0], term.weight) if ids else term)
    return format_mix(replaced) if replaced != terms else spec


class Voicings:
    """Resolves each segment's voice spec (aliases first) and pace, once per distinct pair; each
    voicing's G2P runs in ``text`` within ``deadline``.

    A request speaks with at most ``max_voices`` distinct packs (MAX_VOICES_PER_REQUEST; a pack is half a
    megabyte, held until the request ends): one more is a 400 before it is built. Specs that stand for
    the same pack (``a(2)+b(1)``, ``a(4)+b(2)``; see ``VoiceLibrary.identity``) share it and count once.
    """

    def __init__(self, manager: ModelManager, backend: KokoroBackend, request: SpeechRequest,
                 text: TextWork, deadline: Optional[Deadline], max_voices: int):
        self.manager, self.backend, self.request = manager, backend, request
        self.text, self.deadline = text, deadline
        self.max_voices = max_voices
        self._resolved: dict[tuple, Voicing] = {}
        self._packs: dict[tuple, torch.Tensor] = {}   # identity -> the request's one pack of it

    async def _pack(self, spec: str) -> tuple[str, torch.Tensor]:
        identity = await anyio.to_thread.run_sync(self.backend.voices.identity, spec)
        if identity not in self._packs and len(self._packs) >= self.max_voices:
            raise InvalidRequest(
                f"this request speaks with more than {self.max_voices} distinct voices or mixes, the most one "
                f"request may use here (MAX_VOICES_PER_REQUEST={self.max_voices})", param="input",
                code="too_many_voices")
        name, pack = await resolve_voice(self.manager, self.backend, spec)
        return name, self._packs.setdefault(identity, pack)

    def _alias(self, spec: str) -> tuple[str, float]:
        alias = self.request.voice_aliases.get(spec.strip())
        if alias is None:
            return spec, 1.0
        if isinstance(alias, VoiceAlias):
            return alias.voice, alias.rate
        return alias, 1.0

    async def resolve(self, voice: Optional[str], rate: Optional[float]) -> Voicing:
        key = (voice, rate)
        if key not in self._resolved:
            spec, alias_rate = self._alias(voice if voice is not None else self.request.voice_name)
            name, pack = await self._pack(spec)
            lang_hint = self.request.lang_code or self.backend.voices.primary_name(name)[:1]
            lang = self.backend.spec.normalize_lang(lang_hint)
            g2p = await anyio.to_thread.run_sync(self.text.g2p, self.backend, lang, self.deadline)
            speed = min(4.0, max(0.25, self.request.speed * alias_rate * (rate or 1.0)))
            self._resolved[key] = Voicing(name, pack, speed, g2p, lang in ENGLISH)
        return self._resolved[key]

    def __call__(self, segment: SpeechSegment) -> Voicing:
        return self._resolved[(segment.voice, segment.rate)]
