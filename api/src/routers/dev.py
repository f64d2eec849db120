"""Developer endpoints: what the text pipeline makes of a text, speech from phonemes, and captions."""
import base64
import json
from typing import AsyncGenerator, Optional

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from loguru import logger
from pydantic import BaseModel, Field

from ..core.exceptions import DomainError
from ..dependencies import SpeechServiceDep
from ..http.errors import http_error
from ..services.audio.streaming import encoded_audio, encoded_pieces
from ..services.audio.writer import CONTENT_TYPES, complete_file
from ..structures.normalization import NormalizationOptions
from ..structures.schemas import SpeechRequest
from .audio_response import audio_headers, audio_response

router = APIRouter(prefix="/dev", tags=["Developer"])


class PhonemizeRequest(BaseModel):
    text: str = Field(..., description="At most MAX_INPUT_CHARS characters")
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
    phonemes: str = Field(..., description="At most MAX_INPUT_CHARS characters")


@router.post("/phonemize", response_model=PhonemizeResponse, summary="Text to phonemes and token ids")
async def phonemize(request: PhonemizeRequest, service: SpeechServiceDep):
    phonemes, backend = await service.phonemize(request.text, request.model, request.language,
                                                request.normalization_options)
    return PhonemizeResponse(phonemes=phonemes, tokens=[backend.vocab[p] for p in phonemes if p in backend.vocab],
                             model_version=backend.version)


@router.post("/generate_from_phonemes", summary="Speech from phonemes (any format, speed honoured)",
             responses={200: {"content": {ct: {} for ct in CONTENT_TYPES.values()}}})
async def generate_from_phonemes(request: PhonemeSpeechRequest, service: SpeechServiceDep):
    job = await service.start_phonemes(request, request.phonemes)
    fmt = request.response_format
    return await audio_response(job, encoded_audio(job, fmt), media_type=CONTENT_TYPES[fmt],
                                headers=audio_headers(job, fmt), stream=request.stream, fmt=fmt)


def _line(payload: dict) -> bytes:
    return (json.dumps(payload, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


@router.post("/captioned_speech", summary="Speech with word timestamps (JSON, or NDJSON when streamed)")
async def captioned_speech(request: SpeechRequest, service: SpeechServiceDep):
    """Each word: ``{word, start_time, end_time, text_start, text_end}``; times in seconds from the start of
    the audio, ``input[text_start:text_end]`` is what the user wrote for it.

    ``stream: true`` (the default): one JSON object per line, ``{"audio": base64, "timestamps": [...]}``,
    as the audio is made; a failure mid-way is a last line ``{"error": {...}}``. ``stream: false``: one
    object with the whole file and every word.
    """
    job = await service.start(request, with_words=True)
    fmt = request.response_format
    headers = audio_headers(job)
    if request.stream:
        return await audio_response(job, _ndjson(encoded_pieces(job, fmt)), media_type="application/x-ndjson",
                                    headers=headers, stream=True)

    def whole(pieces: list) -> JSONResponse:
        audio = complete_file(fmt, b"".join(data for data, _ in pieces))
        words = [t.as_dict() for _, timings in pieces for t in timings]
        return JSONResponse({"audio": base64.b64encode(audio).decode(), "audio_format": fmt, "timestamps": words},
                            headers=headers)

    return await audio_response(job, encoded_pieces(job, fmt), media_type="application/json", headers=headers,
                                stream=False, whole=whole)


async def _ndjson(pieces: AsyncGenerator[tuple, None]) -> AsyncGenerator[bytes, None]:
    """One JSON line per piece of audio with its words; a failure mid-way is a last ``{"error": ...}`` line."""
    try:
        async for data, timings in pieces:
            if data or timings:
                yield _line({"audio": base64.b64encode(data).decode(),
                             "timestamps": [t.as_dict() for t in timings]})
    except Exception as exc:
        if not isinstance(exc, DomainError):
            logger.opt(exception=exc).error("captioned stream failed")
        yield _line(http_error(exc).body())
    finally:
        await pieces.aclose()
