"""``POST /v1/audio/voices/combine``: a voice mix as a ``.pt`` pack, optionally saved under a name.

The body is ``{"voices": "af_bella(2)+af_sky(1)" | ["af_bella", "af_sky"], "model", "name", "save",
"overwrite"}``; Kokoro-FastAPI's bare string or list body is accepted too. The rules (what may be
mixed, named and saved) are ``services.voice_combine``'s; this turns its result into the response.
"""
from typing import Union

from fastapi import APIRouter, Body
from fastapi.responses import Response

from ..dependencies import VoiceCombinerDep
from ..structures.schemas import CombineRequest

router = APIRouter(tags=["Voices"])   # mounted under /v1 and at the root (main)


@router.post("/audio/voices/combine", response_class=Response, summary="Mix voices into one voice pack (.pt)",
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "torch.save of the float32 [rows, 1, 256] pack"}})
async def combine_voices(combiner: VoiceCombinerDep, body: Union[CombineRequest, str, list[str]] = Body(...)):
    # JSON only: http.json_body.JsonBodyMiddleware refuses text/plain and forms (415) before this runs
    request = body if isinstance(body, CombineRequest) else CombineRequest(voices=body)
    combined = await combiner.combine(request)
    headers = {"X-Voice": combined.voice, "X-Model-Version": combined.version,
               "Content-Disposition": f'attachment; filename="{combined.filename}"'}
    if combined.saved_as:
        headers["X-Voice-Saved"] = combined.saved_as
    return Response(combined.data, media_type="application/octet-stream", headers=headers)
