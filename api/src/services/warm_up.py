"""Readying a model version before it serves anyone: the one place warm-up lives.

``WarmUp.backend(backend)`` is ``ModelManager``'s hook: it runs under the manager's build lock for every
freshly built version (at start or lazily on first use), so it never goes through ``manager.get``. It
loads ``PRELOAD_VOICES``, then sends two chunks through the scheduler: the first forward pays one-time
costs, the second (sentence-sized) measures the throughput admission predicts waits from.

``WarmUp.version(name)`` is what start-up calls for the default and preloaded versions: it builds the
version (the hook above runs), speaks one short request end to end through ``SpeechService`` (text
pipeline, G2P, join, so nothing lazy is left for the first client), and on CUDA with batching runs the
common batch shapes once. A failed batch warm-up is logged, never fatal.
"""
import asyncio
from typing import Sequence

from loguru import logger

from ..core.exceptions import Overloaded
from ..inference.backend import KokoroBackend
from ..inference.model_manager import ModelManager
from ..inference.scheduler import InferenceScheduler
from ..structures.schemas import SpeechRequest
from .speech import SpeechService
from .text_processing.chunker import iter_chunks

_FIRST = "Warming up."
_MEASURE = "The keeper climbed the stairs of the old lighthouse, lit the lamp, and watched the ships pass by."
_QUEUE_RETRIES = 600   # x 0.1 s: a full queue (a lazy build under load) delays the warm-up, never fails it


class WarmUp:
    """Warms each version once; see the module docstring for what each entry point does."""

    def __init__(self, speech: SpeechService, manager: ModelManager, scheduler: InferenceScheduler, *,
                 default_voice: str, preload_voices: Sequence[str]):
        self.speech, self.manager, self.scheduler = speech, manager, scheduler
        self.default_voice = default_voice
        self.preload_voices = tuple(preload_voices)

    def _voice(self, names) -> str:
        return self.default_voice if self.default_voice in names else sorted(names)[0]

    async def backend(self, backend: KokoroBackend) -> None:
        """The manager's hook: resident voices, then two chunks through the scheduler."""
        names = set(backend.voices.names())
        for name in self.preload_voices:
            if name in names:
                await asyncio.to_thread(backend.voices.pack, name)
        if self.preload_voices:
            logger.info("{}: voices resident: {}", backend.version,
                        ", ".join(n for n in self.preload_voices if n in names) or "none of PRELOAD_VOICES")
        pack = await asyncio.to_thread(backend.voices.pack, self._voice(names))
        g2p = await asyncio.to_thread(backend.g2p, backend.spec.normalize_lang(self._voice(names)[:1]))
        ids = []
        for text in (_FIRST, _MEASURE):
            chunk = await asyncio.to_thread(next, iter_chunks(text, g2p, self.speech.limits))
            ids.append(backend.token_ids(chunk.phonemes))
        stream = await self._open_stream(backend)
        try:
            for chunk_ids in ids:
                await stream.submit(chunk_ids, backend.style(pack, len(chunk_ids)), 1.0)
            stream.end_input()
            async for _ in stream.results():
                pass
        finally:
            stream.close()

    async def _open_stream(self, backend: KokoroBackend):
        for _ in range(_QUEUE_RETRIES):
            try:
                return self.scheduler.open_stream(backend, 0)
            except Overloaded:
                await asyncio.sleep(0.1)
        raise RuntimeError("warm-up found the inference queue full for a minute")

    async def version(self, version: str) -> None:
        """Build ``version`` (warming it through the hook), speak one request end to end, and on CUDA with
        batching run the common batch shapes."""
        backend = await self.manager.get(version)
        job = await self.speech.start(SpeechRequest(model=backend.spec.model_id, input=_FIRST,
                                                    voice=self._voice(backend.voices.names()), seed=0))
        async for _ in job.pcm():
            pass
        try:
            shapes = await asyncio.to_thread(self.scheduler.warm_up, backend)
            if shapes:
                logger.info("warmed up {} batch shapes of {}", shapes, version)
        except Exception as exc:  # a slower first batch is better than no server
            logger.opt(exception=exc).warning("batch warm-up of {} failed", version)
