"""One admitted request's audio, as a client receives it: ``SpeechJob``.

The job reads its ``Synthesis`` (``inference.engine``) and turns the plan's chunks and pauses into
s16 PCM pieces: trimmed and joined by its ``JoinPolicy`` (a pause by punctuation between chunks, none
beside a pause the user asked for), scaled by the request's volume, with the words each piece speaks
(captions) and the request's usage. Build it with keyword arguments, ``await job.start()`` once (what
can refuse the request happens there), then iterate ``pieces()`` or ``pcm()``; ``close()`` ends it.
"""
import asyncio
import math
import time
from dataclasses import dataclass
from typing import AsyncGenerator, Optional

import numpy as np

from ...builds.base import SAMPLE_RATE, SAMPLES_PER_FRAME
from ...core.exceptions import RequestTimeout
from ...inference.backend import ChunkOutput, KokoroBackend
from ...inference.engine import Synthesis
from ..audio.joiner import JoinPolicy, silence
from ..captions import WordTiming, word_timings
from ..text_processing.pipeline import Pause, PlanItem, SpeechChunk


def to_int16(audio: np.ndarray, volume: float = 1.0) -> np.ndarray:
    """Float audio in [-1, 1] (scaled by ``volume``) to s16 PCM, clipped rather than wrapped."""
    if volume != 1.0:
        audio = audio * volume
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


@dataclass
class Usage:
    input_tokens: int = 0    # phoneme tokens spoken
    output_tokens: int = 0   # audio frames of 25 ms delivered (pauses included)

    def as_dict(self) -> dict:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "total_tokens": self.input_tokens + self.output_tokens}


@dataclass(frozen=True)
class AudioPiece:
    pcm: np.ndarray                 # s16 mono 24 kHz
    words: list[WordTiming]         # the words spoken in it (when the job collects them)


class SpeechJob:
    """A request's audio in order, joined, with word timings and usage; see the module docstring."""

    def __init__(self, *, synthesis: Synthesis[PlanItem], voice: str, volume: float, timeout_s: float,
                 join: JoinPolicy, with_words: bool = False, lead_frames: int = 0):
        """``lead_frames``: the join pause before the first chunk, when this job continues audio already
        played (a text streamed in parts); 0 for a job that starts its audio."""
        self.synthesis = synthesis
        self.voice = voice
        self.volume = volume
        self.timeout_s = timeout_s
        self.join = join
        self.with_words = with_words
        self.lead_frames = lead_frames
        self.started_at = time.perf_counter()
        self.first_audio_at: Optional[float] = None
        self._samples = 0

    async def start(self) -> "SpeechJob":
        """Admission and the plan up to its first spoken chunk (see ``Synthesis.start``); a refusal
        closes the job and is raised."""
        await self.synthesis.start()
        return self

    @property
    def backend(self) -> KokoroBackend:
        return self.synthesis.backend

    @property
    def seed(self) -> int:
        return self.synthesis.seed

    @property
    def chunk_count(self) -> int:
        return self.synthesis.chunk_count

    @property
    def cache_hits(self) -> int:
        return self.synthesis.cache_hits

    @property
    def usage(self) -> Usage:
        return Usage(self.synthesis.tokens, math.ceil(self._samples / SAMPLES_PER_FRAME))

    @property
    def audio_seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    async def pieces(self) -> AsyncGenerator[AudioPiece, None]:
        """The request's audio in order, one piece per chunk (with the pause before it) or pause.

        Raises RequestTimeout (504) once the request has run for ``timeout_s``, or the error that
        failed the request. Closes the job when done.
        """
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        chunks = self.synthesis.chunks(deadline)
        join_frames = self.lead_frames
        try:
            async for result in chunks:
                if isinstance(result.item, Pause):
                    join_frames = 0   # the user chose this pause: no join pause beside it
                    piece = AudioPiece(silence(round(result.item.seconds * SAMPLE_RATE)), [])
                else:
                    assert result.output is not None   # a spoken chunk always comes with its audio
                    piece = self._chunk_piece(result.item, result.output, join_frames * SAMPLES_PER_FRAME)
                    join_frames = self.join.pause_after(result.item.chunk.text)
                if self.first_audio_at is None:
                    self.first_audio_at = time.perf_counter()
                self._samples += len(piece.pcm)
                yield piece
        except TimeoutError as exc:
            raise RequestTimeout(f"the request ran past its {self.timeout_s:g} s deadline (REQUEST_TIMEOUT_S)",
                                 code="request_timeout") from exc
        finally:
            await chunks.aclose()
            self.close()

    def _chunk_piece(self, item: SpeechChunk, output: ChunkOutput, lead: int) -> AudioPiece:
        start, end = self.join.trim_bounds(output.audio)
        if self._samples == 0 and not self.lead_frames:
            lead = 0   # no join pause before the very first audio
        pcm = to_int16(output.audio[start:end], self.volume)
        if lead:
            pcm = np.concatenate([silence(lead), pcm])
        words = []
        if self.with_words:
            words = word_timings(item.chunk.tokens, self.backend.vocab, output.pred_dur,
                                 (self._samples + lead) / SAMPLE_RATE, start, end - start)
        return AudioPiece(pcm, words)

    async def pcm(self) -> AsyncGenerator[np.ndarray, None]:
        """The request's audio as s16 mono 24 kHz arrays (see ``pieces``)."""
        async for piece in self.pieces():
            yield piece.pcm

    def close(self) -> None:
        """Stop synthesis, drop whatever is still queued, end the model lease (idempotent)."""
        self.synthesis.close()
