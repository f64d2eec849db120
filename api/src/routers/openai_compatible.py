"""OpenAI's audio API: speech, and the voice listing clients expect beside it."""
import time
from functools import partial
from typing import Optional

from fastapi import APIRouter, Query, Request
from loguru import logger

from ..dependencies import DownloadStoreDep, ManagerDep, SettingsDep, SpeechServiceDep
from ..http.sse import sse_events
from ..services.audio.streaming import encoded_audio
from ..services.audio.writer import CONTENT_TYPES
from ..services.download_links import tee_audio, tee_sse
from ..services.speech import SpeechJob
from ..structures.schemas import SpeechRequest, VoiceInfo, VoiceList
from .audio_response import audio_headers, audio_response
from .downloads import download_path

router = APIRouter(tags=["OpenAI compatible"])   # mounted under /v1 and at the root (main)


def _log(job: SpeechJob, request: SpeechRequest, log_input_text: bool, status: str) -> None:
    """The one line per speech request. The request id comes from RequestIdMiddleware's context; the
    fields are also bound as ``extra`` (LOG_JSON). The input text only with LOG_INPUT_TEXT."""
    elapsed = time.perf_counter() - job.started_at
    ttfa = (job.first_audio_at - job.started_at) if job.first_audio_at else None
    rtf = elapsed / job.audio_seconds if job.audio_seconds else None
    fields = {"event": "speech", "version": job.backend.version, "voice": job.voice, "chars": len(request.input),
              "chunks": job.chunk_count, "audio_s": round(job.audio_seconds, 3),
              "ttfa_ms": round(ttfa * 1000) if ttfa is not None else None,
              "rtf": round(rtf, 4) if rtf is not None else None,
              "cache_hits": job.cache_hits, "status": status}
    if log_input_text:
        fields["input"] = request.input
    logger.bind(**fields).info(
        "speech version={} voice={} chars={} chunks={} audio={:.2f}s ttfa={} rtf={} cache_hits={} status={}{}",
        fields["version"], fields["voice"], fields["chars"], fields["chunks"], job.audio_seconds,
        f"{fields['ttfa_ms']}ms" if ttfa is not None else "-", f"{rtf:.3f}" if rtf is not None else "-",
        fields["cache_hits"], status, f" input={request.input!r}" if "input" in fields else "")


@router.post("/audio/speech", summary="Generate speech from text",
             responses={200: {"content": {ct: {} for ct in CONTENT_TYPES.values()} | {"text/event-stream": {}}}})
async def create_speech(request: SpeechRequest, http: Request, service: SpeechServiceDep,
                        downloads: DownloadStoreDep, settings: SettingsDep):
    job = await service.start(request)
    fmt = request.response_format
    headers = audio_headers(job)
    # return_download_link: the body is copied to a file as it goes out, published once complete.
    pending = downloads.reserve(fmt) if request.return_download_link else None
    if pending:
        headers["X-Download-Path"] = download_path(http, pending.name)
    on_end = partial(_log, job, request, settings.log_input_text)
    if request.stream_format == "sse":
        events = tee_sse(sse_events(job, fmt), pending) if pending else sse_events(job, fmt)
        return await audio_response(job, events, media_type="text/event-stream", stream=True, on_end=on_end,
                                    headers={**headers, "Cache-Control": "no-cache"})
    audio = tee_audio(encoded_audio(job, fmt), pending) if pending else encoded_audio(job, fmt)
    return await audio_response(job, audio, media_type=CONTENT_TYPES[fmt], stream=request.stream, on_end=on_end,
                                headers={**headers, **audio_headers(job, fmt)}, fmt=fmt)


@router.get("/audio/voices", response_model=None, summary="List voices")
async def list_voices(manager: ManagerDep,
                      model: Optional[str] = Query(None, description="A model id; default: the default version"),
                      legacy: bool = Query(False, description="A plain list of voice ids")):
    version = manager.version_for(model) if model else manager.default_version
    names = manager.voice_names(version)   # from the version's folders: never waits for a model build
    if legacy:
        return {"voices": names}
    return VoiceList(voices=[VoiceInfo.of(name) for name in names])
