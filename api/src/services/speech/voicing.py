"""Voice resolution for a speech request: which voice, pack, pace and G2P each segment is spoken with.

``resolve_voice`` turns a voice spec (a name, an OpenAI name, a mix) into the version's pack, and
says when a name belongs to another model version. ``Voicings`` applies the request's aliases and
rates to each segment's spec, once per distinct pair, and hands the planner the ``Voicing``.
"""
from typing import Optional

import anyio
import torch

from ...core.exceptions import InvalidRequest
from ...inference.backend import KokoroBackend
from ...inference.model_manager import ModelManager
from ...inference.voices import parse_mix
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


class Voicings:
    """Resolves each segment's voice spec (aliases first) and pace, once per distinct pair; each
    voicing's G2P runs in ``text`` within ``deadline``."""

    def __init__(self, manager: ModelManager, backend: KokoroBackend, request: SpeechRequest,
                 text: TextWork, deadline: Optional[Deadline]):
        self.manager, self.backend, self.request = manager, backend, request
        self.text, self.deadline = text, deadline
        self._resolved: dict[tuple, Voicing] = {}

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
            name, pack = await resolve_voice(self.manager, self.backend, spec)
            lang_hint = self.request.lang_code or self.backend.voices.primary_name(name)[:1]
            lang = self.backend.spec.normalize_lang(lang_hint)
            g2p = await anyio.to_thread.run_sync(self.text.g2p, self.backend, lang, self.deadline)
            speed = min(4.0, max(0.25, self.request.speed * alias_rate * (rate or 1.0)))
            self._resolved[key] = Voicing(name, pack, speed, g2p, lang in ENGLISH)
        return self._resolved[key]

    def __call__(self, segment: SpeechSegment) -> Voicing:
        return self._resolved[(segment.voice, segment.rate)]
