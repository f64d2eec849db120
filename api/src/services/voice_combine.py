"""Voice mixes as ``.pt`` packs: the rules of ``POST /v1/audio/voices/combine``.

A mix spec (``af_bella(2)+af_sky(1)``) or a list of plain names (mixed equally) becomes one float32
pack of the chosen version. Saving (only with ALLOW_VOICE_SAVE) writes it into the version's voices
folder under a plain name whose first letter is one of the version's languages, so it is listed and
speakable at once, in that version only, within the saved-voice quota (``SaveQuota``).
"""
import io
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Optional, Union

import anyio
import torch

from ..core.exceptions import Conflict, Forbidden, InvalidRequest, quote
from ..inference.model_manager import ModelManager
from ..inference.voices import MAX_MIX_TERMS, float32_copy, is_voice_name
from ..structures.schemas import CombineRequest


@dataclass(frozen=True)
class CombinedVoice:
    """A finished mix: the pack's bytes (``torch.save`` of float32 ``[rows, 1, 256]``), the canonical
    mix it is, the version it belongs to, and the name it was saved under (None: not saved)."""

    data: bytes
    voice: str
    version: str
    saved_as: Optional[str]
    filename: str


def mix_spec(voices: Union[str, list[str]]) -> str:
    """The mix string of a request's ``voices``: a string as it is, a list of plain names joined equally."""
    if isinstance(voices, str):
        return voices
    names = [v.strip() for v in voices]
    bad = [v for v in names if not is_voice_name(v)]
    if not names or bad or len(names) > MAX_MIX_TERMS:
        raise InvalidRequest(
            f"voices as a list takes 1 to {MAX_MIX_TERMS} plain voice names (use the string form for weights)"
            + (f"; not names: {', '.join(map(repr, bad))}" if bad else ""), param="voices", code="invalid_voice")
    return "+".join(names)


def _pack_bytes(pack: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.save(float32_copy(pack), buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class SaveQuota:
    """How many saved voices, and how many bytes of them, one version's saved folder may hold
    (VOICE_SAVE_MAX_COUNT, VOICE_SAVE_MAX_MB). Replacing a voice counts its new size instead of its old."""

    max_count: int
    max_bytes: int

    def check(self, folder: Path, name: str, size: int) -> None:
        """Conflict (409, ``voice_quota_exceeded``) if saving ``size`` bytes as ``name`` in ``folder`` would
        pass either bound. Only regular ``*.pt`` files count (what the library lists)."""
        others = [p.stat().st_size for p in folder.glob("*.pt")
                  if p.stem != name and p.is_file() and not p.is_symlink()] if folder.is_dir() else []
        if len(others) + 1 > self.max_count:
            raise Conflict(f"this server keeps at most {self.max_count} saved voices per model version "
                           f"(VOICE_SAVE_MAX_COUNT); overwrite one instead", param="name", code="voice_quota_exceeded")
        if sum(others) + size > self.max_bytes:
            raise Conflict(f"saved voices may take at most {self.max_bytes / 2 ** 20:g} MB per model version "
                           f"(VOICE_SAVE_MAX_MB); overwrite one instead", param="name", code="voice_quota_exceeded")


class VoiceCombiner:
    """Mixes voices of a version into one pack and, when ``allow_save`` (ALLOW_VOICE_SAVE), keeps it.

    Every refusal is a domain error raised before anything is written: saving disabled (Forbidden), a
    bad or missing name, a name whose first letter is no language of the version, a bad mix (InvalidRequest).
    """

    def __init__(self, manager: ModelManager, allow_save: bool, quota: Optional[SaveQuota] = None):
        self.manager = manager
        self.allow_save = allow_save
        self.quota = quota   # None: no bound (the app always passes the settings' quota)
        self._saving = anyio.Lock()   # a quota check and its save, one at a time (in this process)

    def _check_name(self, request: CombineRequest) -> Optional[str]:
        """Refuse a bad name or a save that is not allowed; returns the name to save under (None: no save)."""
        if request.save and not self.allow_save:
            raise Forbidden("saving voices is disabled on this server (ALLOW_VOICE_SAVE=false)", param="save",
                            code="voice_save_disabled")
        if request.name is not None and not is_voice_name(request.name):
            raise InvalidRequest(f"voice name {quote(request.name)} must be 1-64 letters, digits or underscores",
                                 param="name", code="invalid_voice_name")
        if request.save and request.name is None:
            raise InvalidRequest("saving a voice needs a name", param="name", code="invalid_voice_name")
        return request.name if request.save else None

    async def combine(self, request: CombineRequest) -> CombinedVoice:
        save_as = self._check_name(request)
        spec = mix_spec(request.voices)
        version = self.manager.version_for(request.model) if request.model else self.manager.default_version
        backend = await self.manager.get(version)
        canonical, pack = await anyio.to_thread.run_sync(backend.voices.resolve, spec)
        if save_as is not None:
            try:   # the first letter of a voice picks its language: a name without one could never speak
                backend.spec.normalize_lang(save_as[:1])
            except InvalidRequest as exc:
                raise InvalidRequest(f"a voice's first letter picks its language, and {save_as[:1]!r} is "
                                     f"none: {exc.message}", param="name", code="invalid_voice_name") from exc
        data = await anyio.to_thread.run_sync(_pack_bytes, pack)
        if save_as is not None:
            async with self._saving:
                if self.quota is not None:
                    await anyio.to_thread.run_sync(self.quota.check, backend.voices.saved_folder, save_as,
                                                   len(data))
                await anyio.to_thread.run_sync(partial(backend.voices.save, save_as, pack,
                                                       overwrite=request.overwrite))
        return CombinedVoice(data, canonical, version, save_as,
                             f"{request.name or canonical}.pt")
