"""``POST /v1/audio/voices/combine``: a voice mix as a ``.pt`` pack, optionally saved under a name.

The body is ``{"voices": "af_bella(2)+af_sky(1)" | ["af_bella", "af_sky"], "model", "name", "save",
"overwrite"}``; Kokoro-FastAPI's bare string or list body is accepted too. A list is mixed equally.
Saving (``ALLOW_VOICE_SAVE=true``, else 403) writes the pack into the version's voices folder, so it
is listed by ``GET /v1/audio/voices`` and usable as a voice at once, in that version only.
"""
import io
from functools import partial
from typing import Optional, Union

import anyio
import torch
from fastapi import APIRouter, Body
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..core.exceptions import Forbidden, InvalidRequest, quote
from ..dependencies import ManagerDep, SettingsDep
from ..inference.voices import MAX_MIX_TERMS, float32_copy, is_voice_name

router = APIRouter(tags=["Voices"])   # mounted under /v1 and at the root (main)


class CombineRequest(BaseModel):
    """What to mix, with which version, and whether to keep it."""

    model_config = ConfigDict(extra="forbid")   # a misspelt "overwrite" must not pass silently

    voices: Union[str, list[str]] = Field(
        ..., description="A mix like af_bella(2)+af_sky(1)-am_adam(0.3), or a list of voice names mixed equally")
    model: Optional[str] = Field(None, description="A model id picking the version; default: the default version")
    name: Optional[str] = Field(None, description="Name of the pack ([A-Za-z0-9_]{1,64}); needed to save")
    save: bool = Field(False, description="Keep the pack as a voice of the version (ALLOW_VOICE_SAVE=true)")
    overwrite: bool = Field(False, description="Replace a voice saved earlier under that name (built-in voices "
                                                "are read-only)")


def _mix_spec(voices: Union[str, list[str]]) -> str:
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


@router.post("/audio/voices/combine", response_class=Response, summary="Mix voices into one voice pack (.pt)",
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "torch.save of the float32 [rows, 1, 256] pack"}})
async def combine_voices(manager: ManagerDep, settings: SettingsDep,
                         body: Union[CombineRequest, str, list[str]] = Body(...)):
    # JSON only: http.json_body.JsonBodyMiddleware refuses text/plain and forms (415) before this runs
    request = body if isinstance(body, CombineRequest) else CombineRequest(voices=body)
    if request.save and not settings.allow_voice_save:
        raise Forbidden("saving voices is disabled on this server (ALLOW_VOICE_SAVE=false)", param="save",
                        code="voice_save_disabled")
    if request.name is not None and not is_voice_name(request.name):
        raise InvalidRequest(f"voice name {quote(request.name)} must be 1-64 letters, digits or underscores",
                             param="name", code="invalid_voice_name")
    if request.save and request.name is None:
        raise InvalidRequest("saving a voice needs a name", param="name", code="invalid_voice_name")
    spec = _mix_spec(request.voices)
    version = manager.version_for(request.model) if request.model else manager.default_version
    backend = await manager.get(version)
    canonical, pack = await anyio.to_thread.run_sync(backend.voices.resolve, spec)
    headers = {"X-Voice": canonical, "X-Model-Version": version}
    if request.save:
        try:   # the first letter of a voice picks its language: a name without one could never speak
            backend.spec.normalize_lang(request.name[:1])
        except InvalidRequest as exc:
            raise InvalidRequest(f"a voice's first letter picks its language, and {request.name[:1]!r} is none: "
                                 f"{exc.message}", param="name", code="invalid_voice_name") from exc
        await anyio.to_thread.run_sync(partial(backend.voices.save, request.name, pack, overwrite=request.overwrite))
        headers["X-Voice-Saved"] = request.name
    data = await anyio.to_thread.run_sync(_pack_bytes, pack)
    filename = f"{request.name or canonical}.pt"
    return Response(data, media_type="application/octet-stream",
                    headers={**headers, "Content-Disposition": f'attachment; filename="{filename}"'})
