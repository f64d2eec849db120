"""From a validated speech request to the request's own stream of PCM, chunk by chunk.

``SpeechService.start`` does everything that can refuse a request before a byte is sent (model, voice,
language, input size, admission, and the first chunk's G2P), so errors arrive as proper 4xx/5xx
bodies. The returned ``SpeechJob`` feeds the remaining chunks to the scheduler as G2P produces them
and yields the audio in order.
"""
import asyncio
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterator, Optional

import anyio
import numpy as np
import torch
from loguru import logger

from ..core.config import Settings
from ..core.errors import InvalidRequest, RequestTimeout
from ..inference.backend import SAMPLES_PER_FRAME, SAMPLE_RATE, KokoroBackend
from ..inference.model_manager import ModelManager
from ..inference.voices import parse_mix
from ..inference.scheduler import InferenceScheduler, StreamClosed, SynthesisStream
from ..structures.schemas import SpeechRequest
from .text_processing.chunker import ChunkLimits, TextChunk, iter_chunks


def limits_from(settings: Settings) -> ChunkLimits:
    return ChunkLimits(settings.first_chunk_max_tokens, settings.target_min_tokens,
                       settings.target_max_tokens, settings.absolute_max_tokens)


def to_int16(audio: np.ndarray, volume: float = 1.0) -> np.ndarray:
    """Float audio in [-1, 1] (scaled by ``volume``) to s16 PCM, clipped rather than wrapped."""
    if volume != 1.0:
        audio = audio * volume
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


@dataclass
class Usage:
    input_tokens: int = 0    # phoneme tokens spoken
    output_tokens: int = 0   # audio frames of 25 ms

    def as_dict(self) -> dict:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens}


@dataclass
class SpeechJob:
    """One admitted request: its chunks go to the scheduler, its PCM comes back in order."""

    backend: KokoroBackend
    stream: SynthesisStream
    chunks: Iterator[TextChunk]
    first_chunk: TextChunk
    pack: torch.Tensor
    voice: str
    speed: float
    volume: float
    timeout_s: float
    fault_injection: bool = False
    usage: Usage = field(default_factory=Usage)
    chunk_count: int = 0
    started_at: float = field(default_factory=time.perf_counter)
    first_audio_at: Optional[float] = None
    _feeder: Optional[asyncio.Task] = None
    _closed: bool = False

    def __post_init__(self):
        self.backend.active_requests += 1
        self._feeder = asyncio.create_task(self._feed())

    @property
    def seed(self) -> int:
        return self.stream.seed

    async def _feed(self) -> None:
        chunk: Optional[TextChunk] = self.first_chunk
        try:
            while chunk is not None:
                ids = self.backend.token_ids(chunk.phonemes)
                if ids:
                    await self.stream.submit(ids, self.backend.style(self.pack, len(ids)), self.speed,
                                             self._fault(chunk.text))
                    self.usage.input_tokens += len(ids)
                    self.chunk_count += 1
                chunk = await anyio.to_thread.run_sync(next, self.chunks, None)
            self.stream.end_input()
        except StreamClosed:
            pass
        except Exception as exc:
            logger.opt(exception=exc).error("text processing failed")
            self.stream.fail(exc)

    def _fault(self, text: str) -> Optional[str]:
        """FAULT_INJECTION test hook: ``[[fault:chunk]]`` / ``[[fault:worker]]`` in a chunk's text."""
        if self.fault_injection:
            for kind in ("chunk", "worker"):
                if f"[[fault:{kind}]]" in text:
                    return kind
        return None

    async def pcm(self) -> AsyncIterator[np.ndarray]:
        """The request's audio as s16 mono 24 kHz arrays, one per chunk; closes the job when done.

        Raises RequestTimeout (504) once the request has run for ``timeout_s``.
        """
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        try:
            async for out in self._timed(self.stream.results(deadline)):
                if self.first_audio_at is None:
                    self.first_audio_at = time.perf_counter()
                self.usage.output_tokens += int(out.pred_dur.sum())
                yield to_int16(out.audio, self.volume)
        finally:
            self.close()

    async def _timed(self, results):
        try:
            async for out in results:
                yield out
        except asyncio.TimeoutError as exc:
            raise RequestTimeout(f"the request ran past its {self.timeout_s:g} s deadline (REQUEST_TIMEOUT_S)",
                                 code="request_timeout") from exc

    def close(self) -> None:
        """Stop feeding and drop whatever is still queued (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._feeder and not self._feeder.done():
            self._feeder.cancel()
        self.stream.close()
        self.backend.active_requests -= 1

    @property
    def audio_seconds(self) -> float:
        return self.usage.output_tokens * SAMPLES_PER_FRAME / SAMPLE_RATE


class SpeechService:
    """Validates and admits speech requests; see the module docstring."""

    def __init__(self, settings: Settings, manager: ModelManager, scheduler: InferenceScheduler):
        self.settings = settings
        self.manager = manager
        self.scheduler = scheduler
        self.limits = limits_from(settings)

    def check_input(self, text: str) -> str:
        if len(text) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"input is {len(text)} characters; this server accepts at most {self.settings.max_input_chars}",
                param="input", code="input_too_long")
        if not text.strip():
            raise InvalidRequest("input is empty", param="input", code="empty_input")
        return text

    async def _voice(self, backend: KokoroBackend, spec: str) -> tuple[str, torch.Tensor]:
        """Resolve a voice spec; a name that belongs to another version gets an error saying so."""
        try:
            return await anyio.to_thread.run_sync(backend.voices.resolve, spec)
        except InvalidRequest as exc:
            if exc.code != "voice_not_found":
                raise
            terms = parse_mix(backend.voices.openai_names.get(spec.strip(), spec))
            own = set(backend.voices.names())
            foreign = {t.name: self.manager.versions_with_voice(t.name) for t in terms if t.name not in own}
            if not all(foreign.values()):
                raise   # a name no version has: the plain unknown-voice error
            names = ", ".join(f"{name!r} ({', '.join(versions)})" for name, versions in foreign.items())
            mixing = len(foreign) < len(terms)
            raise InvalidRequest(
                f"voice {names} belongs to another model version than {backend.spec.model_id}"
                f"{'; voices cannot be mixed across model versions' if mixing else ''}. "
                f"{backend.spec.model_id} voices: {', '.join(sorted(own))}",
                param="voice", code="voice_not_in_model") from exc

    async def start(self, request: SpeechRequest) -> SpeechJob:
        text = self.check_input(request.input)
        backend = await self.manager.get(self.manager.version_for(request.model))
        voice, pack = await self._voice(backend, request.voice_name)
        lang = backend.spec.normalize_lang(request.lang_code or backend.voices.primary_name(voice)[:1])
        g2p = await anyio.to_thread.run_sync(backend.g2p, lang)
        stream = self.scheduler.open_stream(backend, request.seed)
        try:
            chunks = iter_chunks(text, g2p, self.limits)
            first = await anyio.to_thread.run_sync(next, chunks, None)
            while first is not None and not backend.token_ids(first.phonemes):
                first = await anyio.to_thread.run_sync(next, chunks, None)
            if first is None:
                raise InvalidRequest("input has no speakable text", param="input", code="unspeakable_input")
            return SpeechJob(backend, stream, chunks, first, pack, voice, request.speed, request.volume_multiplier,
                             self.settings.request_timeout_s, self.settings.fault_injection)
        except BaseException:
            stream.close()
            raise
