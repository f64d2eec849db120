"""Developer endpoints: what the text pipeline makes of a text, speech from phonemes, and captions."""
import base64
import json
from typing import AsyncIterator, Optional

import anyio
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from ..core.errors import APIError, error_body
from ..dependencies import get_manager, get_speech_service
from ..inference.model_manager import ModelManager
from ..services.audio.streaming import encoded_audio, encoded_pieces
from ..services.audio.writer import CONTENT_TYPES
from ..services.speech import ENGLISH, SpeechJob, SpeechService
from ..services.text_processing.mapped_text import MappedText
from ..services.text_processing.normalizer import NormalizationOptions, normalize_text
from ..services.text_processing.sentences import split_sentences
from ..services.text_processing.tokens import join_phonemes
from ..structures.schemas import SpeechRequest

router = APIRouter(prefix="/dev", tags=["Developer"])


class PhonemizeRequest(BaseModel):
    text: str = Field(..., min_length=1, max_length=200_000)
    model: str = "kokoro"
    language: Optional[str] = Field(None, description="A lang_code (a, b, e, f, h, i, p, j, z); default: a")
    normalization_options: NormalizationOptions = Field(default_factory=NormalizationOptions)


class PhonemizeResponse(BaseModel):
    phonemes: str
    tokens: list[int]
    model_version: str


class PhonemeSpeechRequest(SpeechRequest):
    """Speech from phonemes as given; ``input`` is not used."""

    input: str = ""
    phonemes: str = Field(..., min_length=1, max_length=200_000)


@router.post("/phonemize", response_model=PhonemizeResponse, summary="Text to phonemes and token ids")
async def phonemize(request: PhonemizeRequest, manager: ModelManager = Depends(get_manager)):
    backend = await manager.get(manager.version_for(request.model))
    lang = backend.spec.normalize_lang(request.language or "a")
    g2p = await anyio.to_thread.run_sync(backend.g2p, lang)

    def run() -> str:
        text = request.text
        if lang in ENGLISH and request.normalization_options.normalize:
            text = normalize_text(MappedText.of(text), request.normalization_options).text
        return " ".join(join_phonemes(g2p(sentence)) for sentence in split_sentences(text)).strip()

    phonemes = await anyio.to_thread.run_sync(run)
    return PhonemizeResponse(phonemes=phonemes, tokens=[backend.vocab[p] for p in phonemes if p in backend.vocab],
                             model_version=backend.version)


@router.post("/generate_from_phonemes", summary="Speech from phonemes (any format, speed honoured)",
             responses={200: {"content": {ct: {} for ct in CONTENT_TYPES.values()}}})
async def generate_from_phonemes(request: PhonemeSpeechRequest,
                                 service: SpeechService = Depends(get_speech_service)):
    job = await service.start_phonemes(request, request.phonemes)
    return await _audio_response(job, request)


async def _audio_response(job: SpeechJob, request: SpeechRequest):
    fmt = request.response_format
    headers = {"X-Seed": str(job.seed), "X-Model-Version": job.backend.version,
               "Content-Disposition": f"attachment; filename=speech.{fmt}"}
    if request.stream:
        return StreamingResponse(_closing(job, encoded_audio(job, fmt)), media_type=CONTENT_TYPES[fmt],
                                 headers=headers)
    try:
        body = b"".join([data async for data in encoded_audio(job, fmt)])
    finally:
        job.close()
    return Response(body, media_type=CONTENT_TYPES[fmt], headers=headers)


async def _closing(job: SpeechJob, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for data in body:
            yield data
    finally:
        job.close()


def _line(payload: dict) -> bytes:
    return (json.dumps(payload, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


@router.post("/captioned_speech", summary="Speech with word timestamps (JSON, or NDJSON when streamed)")
async def captioned_speech(request: SpeechRequest, service: SpeechService = Depends(get_speech_service)):
    """Each word: ``{word, start_time, end_time, text_start, text_end}``; times in seconds from the start of
    the audio, ``input[text_start:text_end]`` is what the user wrote for it.

    ``stream: true`` (the default): one JSON object per line, ``{"audio": base64, "timestamps": [...]}``,
    as the audio is made; a failure mid-way is a last line ``{"error": {...}}``. ``stream: false``: one
    object with the whole file and every word.
    """
    job = await service.start(request, with_words=True)
    fmt = request.response_format
    headers = {"X-Seed": str(job.seed), "X-Model-Version": job.backend.version}
    if not request.stream:
        audio, words = bytearray(), []
        try:
            async for data, timings in encoded_pieces(job, fmt):
                audio += data
                words.extend(t.as_dict() for t in timings)
        except APIError as exc:
            return JSONResponse(error_body(exc.message, exc.error_type, exc.param, exc.code),
                                status_code=exc.status_code)
        finally:
            job.close()
        return JSONResponse({"audio": base64.b64encode(bytes(audio)).decode(), "audio_format": fmt,
                             "timestamps": words}, headers=headers)
    return StreamingResponse(_ndjson(job, fmt), media_type="application/x-ndjson", headers=headers)


async def _ndjson(job: SpeechJob, fmt: str) -> AsyncIterator[bytes]:
    try:
        async for data, timings in encoded_pieces(job, fmt):
            if data or timings:
                yield _line({"audio": base64.b64encode(data).decode(),
                             "timestamps": [t.as_dict() for t in timings]})
    except APIError as exc:
        yield _line(error_body(exc.message, exc.error_type, exc.param, exc.code))
    except Exception:
        yield _line(error_body("audio generation failed", "server_error", None, "generation_failed"))
    finally:
        job.close()
