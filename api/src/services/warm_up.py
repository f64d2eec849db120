"""Readying a model version before it serves anyone: the one place warm-up lives, one path.

``WarmUp.backend(backend)`` is ``ModelManager``'s hook: it runs under the manager's build lock for every
freshly built version (at start or lazily on first use), so it holds the backend on a borrowed lease
rather than through ``manager.get``. It loads ``PRELOAD_VOICES``, then speaks a fixed plan through the
same planner (normalization, G2P, chunking) and ``SynthesisEngine`` as every request: a short chunk
that pays the one-time costs, and a sentence-sized one that measures the throughput admission
predicts waits from. The chunk cache is not used, so both really run, and admission is not asked:
a full server delays the warm-up of a version built lazily under load, never refuses it.

``WarmUp.version(name)`` is what start-up calls for the default and preloaded versions: it builds the
version (the hook above runs) and on CUDA with batching runs the common batch shapes once. A failed
batch warm-up is logged, never fatal.
"""
import asyncio
import itertools
from typing import Optional, Sequence

from loguru import logger

from ..inference.backend import KokoroBackend
from ..inference.engine import SynthesisEngine
from ..inference.model_manager import ModelLease, ModelManager
from ..structures.normalization import NormalizationOptions
from .speech.voicing import ENGLISH
from .text_processing.chunker import ChunkLimits
from .text_processing.mapped_text import MappedText
from .text_processing.pipeline import SpeechPlanner, Voicing
from .text_processing.segments import SpeechSegment
from .text_processing.text_work import InProcessText, TextWork

_FIRST = "Warming up."
_MEASURE = "The keeper climbed the stairs of the old lighthouse, lit the lamp, and watched the ships pass by."


class WarmUp:
    """Warms each version once; see the module docstring for what each entry point does."""

    def __init__(self, engine: SynthesisEngine, manager: ModelManager, limits: ChunkLimits, *,
                 default_voice: str, preload_voices: Sequence[str], text: Optional[TextWork] = None):
        self.engine, self.manager, self.limits = engine, manager, limits
        self.text: TextWork = text or InProcessText()   # requests' text work: warming it starts its process
        self.default_voice = default_voice
        self.preload_voices = tuple(preload_voices)

    def _voice(self, names) -> str:
        return self.default_voice if self.default_voice in names else sorted(names)[0]

    async def backend(self, backend: KokoroBackend) -> None:
        """The manager's hook: resident voices, then the fixed plan through the engine."""
        names = set(backend.voices.names())
        for name in self.preload_voices:
            if name in names:
                await asyncio.to_thread(backend.voices.pack, name)
        if self.preload_voices:
            logger.info("{}: voices resident: {}", backend.version,
                        ", ".join(n for n in self.preload_voices if n in names) or "none of PRELOAD_VOICES")
        voice = self._voice(names)
        lang = backend.spec.normalize_lang(voice[:1])
        pack = await asyncio.to_thread(backend.voices.pack, voice)
        g2p = await asyncio.to_thread(self.text.g2p, backend, lang, None)
        voicing = Voicing(voice, pack, 1.0, g2p, lang in ENGLISH)
        planner = SpeechPlanner(self.limits, self.text.normalizer(NormalizationOptions(), None))
        # one plan per text: the first stays a chunk of its own (a request's first chunk takes more along)
        plan = itertools.chain.from_iterable(
            planner.plan([SpeechSegment([MappedText.of(text)])], lambda _: voicing) for text in (_FIRST, _MEASURE))
        # requests for this version wait for its warm-up: never refused, whatever the load
        synthesis = await self.engine.synthesize(ModelLease.borrowed(backend), plan, seed=0, use_cache=False,
                                                 admit=False).start()
        try:
            async for _ in synthesis.chunks():
                pass
        finally:
            synthesis.close()

    async def version(self, version: str) -> None:
        """Build ``version`` (warming it through the hook) and, on CUDA with batching, run the common
        batch shapes."""
        backend = await self.manager.get(version)
        try:
            shapes = await asyncio.to_thread(self.engine.scheduler.warm_up, backend)
            if shapes:
                logger.info("warmed up {} batch shapes of {}", shapes, version)
        except Exception as exc:  # a slower first batch is better than no server
            logger.opt(exception=exc).warning("batch warm-up of {} failed", version)
