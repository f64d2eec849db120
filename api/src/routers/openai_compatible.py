"""OpenAI's audio API: speech, and the voice listing clients expect beside it."""
import time
from typing import Optional

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from loguru import logger

from ..core.errors import APIError, error_response
from ..dependencies import get_manager, get_speech_service
from ..inference.model_manager import ModelManager
from ..services.audio.streaming import encoded_audio, sse_events
from ..services.audio.writer import CONTENT_TYPES
from ..services.download_links import DownloadStore, tee_audio, tee_sse
from ..services.speech import SpeechJob, SpeechService
from ..structures.schemas import SpeechRequest, VoiceInfo, VoiceList
from .downloads import download_path, get_download_store

router = APIRouter(prefix="/v1", tags=["OpenAI compatible"])


def _log(job: SpeechJob, request: SpeechRequest, status: str) -> None:
    """The one line per speech request. The request id comes from RequestIdMiddleware's context; the
    fields are also bound as ``extra`` (LOG_JSON). The input text only with LOG_INPUT_TEXT."""
    from ..core.config import get_settings

    elapsed = time.perf_counter() - job.started_at
    ttfa = (job.first_audio_at - job.started_at) if job.first_audio_at else None
    rtf = elapsed / job.audio_seconds if job.audio_seconds else None
    fields = {"event": "speech", "version": job.backend.version, "voice": job.voice, "chars": len(request.input),
              "chunks": job.chunk_count, "audio_s": round(job.audio_seconds, 3),
              "ttfa_ms": round(ttfa * 1000) if ttfa is not None else None,
              "rtf": round(rtf, 4) if rtf is not None else None,
              "cache_hits": getattr(job, "cache_hits", 0), "status": status}
    if get_settings().log_input_text:
        fields["input"] = request.input
    logger.bind(**fields).info(
        "speech version={} voice={} chars={} chunks={} audio={:.2f}s ttfa={} rtf={} cache_hits={} status={}{}",
        fields["version"], fields["voice"], fields["chars"], fields["chunks"], job.audio_seconds,
        f"{fields['ttfa_ms']}ms" if ttfa is not None else "-", f"{rtf:.3f}" if rtf is not None else "-",
        fields["cache_hits"], status, f" input={request.input!r}" if "input" in fields else "")


@router.post("/audio/speech", summary="Generate speech from text",
             responses={200: {"content": {ct: {} for ct in CONTENT_TYPES.values()} | {"text/event-stream": {}}}})
async def create_speech(request: SpeechRequest, http: Request, service: SpeechService = Depends(get_speech_service),
                        downloads: DownloadStore = Depends(get_download_store)):
    job = await service.start(request)
    fmt = request.response_format
    headers = {"X-Seed": str(job.seed), "X-Model-Version": job.backend.version}
    # return_download_link: the body is copied to a file as it goes out, published once complete.
    pending = downloads.reserve(fmt) if request.return_download_link else None
    if pending:
        headers["X-Download-Path"] = download_path(http, pending.name)

    def audio():
        return tee_audio(encoded_audio(job, fmt), pending) if pending else encoded_audio(job, fmt)

    if request.stream_format == "sse":
        events = tee_sse(sse_events(job, fmt), pending) if pending else sse_events(job, fmt)
        return StreamingResponse(_logged(job, request, events), media_type="text/event-stream",
                                 headers={**headers, "Cache-Control": "no-cache"})
    if request.stream:
        return StreamingResponse(_logged(job, request, audio()), media_type=CONTENT_TYPES[fmt],
                                 headers={**headers, "Content-Disposition": f"attachment; filename=speech.{fmt}"})
    try:
        body = b"".join([data async for data in audio()])
    except APIError as exc:
        _log(job, request, f"error {exc.status_code}")
        return error_response(exc)
    except Exception:
        _log(job, request, "error 500")
        raise
    _log(job, request, "ok")
    return Response(body, media_type=CONTENT_TYPES[fmt],
                    headers={**headers, "Content-Disposition": f"attachment; filename=speech.{fmt}"})


async def _logged(job: SpeechJob, request: SpeechRequest, body):
    status = "ok"
    try:
        async for data in body:
            yield data
    except BaseException as exc:
        # Propagating aborts the connection: a truncated file must never look finished.
        status = "disconnected" if not isinstance(exc, Exception) else f"failed: {type(exc).__name__}"
        raise
    finally:
        job.close()
        await body.aclose()   # its encoder is freed now, not whenever the generator is collected
        _log(job, request, status)


@router.get("/audio/voices", response_model=None, summary="List voices")
async def list_voices(model: Optional[str] = Query(None, description="A model id; default: the default version"),
                      legacy: bool = Query(False, description="Plain list of names"),
                      manager: ModelManager = Depends(get_manager)):
    version = manager.version_for(model) if model else manager.default_version
    backend = await manager.get(version)
    names = backend.voices.names()
    if legacy:
        return {"voices": names}
    return VoiceList(voices=[VoiceInfo(id=name, name=name) for name in names])
