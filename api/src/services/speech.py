"""From a validated speech request to the request's own stream of audio, piece by piece.

``SpeechService.start`` does everything that can refuse a request before a byte is sent (model,
markup, voices and aliases, languages, input size, admission, and the first chunk's G2P), so errors
arrive as proper 4xx/5xx bodies. The returned ``SpeechJob`` walks the request's plan (chunks and
pauses, see ``text_processing.pipeline``): it feeds chunks to the scheduler (or takes them from the
chunk cache) as G2P produces them, and yields the audio in order, joined and with word timings.
"""
import asyncio
import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import AsyncIterator, Hashable, Iterator, Optional

import anyio
import numpy as np
import torch
from loguru import logger

from ..core.config import Settings
from ..core.exceptions import Forbidden, InvalidRequest, RequestTimeout
from ..builds.base import SAMPLES_PER_FRAME, SAMPLE_RATE
from ..inference.backend import ChunkOutput, KokoroBackend
from ..inference.model_manager import ModelManager
from ..inference.scheduler import InferenceScheduler, StreamClosed, SynthesisStream, chunk_seed
from ..inference.voices import parse_mix
from ..structures.normalization import NormalizationOptions
from ..structures.schemas import SpeechRequest, VoiceAlias
from .audio.joiner import JoinPolicy, silence
from .captions import WordTiming, word_timings
from .chunk_cache import ChunkCache
from .text_processing.chunker import ChunkLimits, pack_sentences
from .text_processing.mapped_text import MappedText
from .text_processing.markup import parse_inline
from .text_processing.normalizer import normalize_text
from .text_processing.pronunciations import (MAX_REQUEST_ENTRIES, PronunciationDict, check_phonemes, load_file,
                                             parse_entries)
from .text_processing.pipeline import Pause, PlanItem, SpeechChunk, SpeechPlanner, Voicing
from .text_processing.segments import PauseSegment, SpeechSegment
from .text_processing.sentences import split_sentences
from .text_processing.ssml import parse_ssml
from ..core.phonemes import PhonemeToken, join_phonemes

ENGLISH = ("a", "b")
# Speech at speed 1 runs about 15 characters of English text a second (an estimate for limits only).
_CHARS_PER_SECOND = 15.0


def limits_from(settings: Settings) -> ChunkLimits:
    return ChunkLimits(settings.first_chunk_max_tokens, settings.target_min_tokens,
                       settings.target_max_tokens, settings.absolute_max_tokens,
                       settings.first_chunk_min_tokens, settings.chunk_ramp)


def join_policy_from(settings: Settings) -> JoinPolicy:
    return JoinPolicy(settings.trim_silence, settings.silence_threshold, settings.silence_margin_s,
                      settings.sentence_pause_s, settings.clause_pause_s, settings.word_pause_s)


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


@dataclass(frozen=True)
class _Planned:
    """A chunk on its way: what to say, its ids, and its cached audio when the cache had it."""

    item: SpeechChunk
    ids: list[int]
    key: Optional[Hashable]
    cached: Optional[ChunkOutput]


@dataclass
class SpeechJob:
    """One admitted request: its chunks go to the scheduler, its audio comes back in order."""

    backend: KokoroBackend
    stream: SynthesisStream
    plan: Iterator[PlanItem]
    head: list[PlanItem]             # items already taken from the plan (up to the first chunk)
    voice: str
    volume: float
    timeout_s: float
    seeded: bool
    cache: Optional[ChunkCache] = None
    join: JoinPolicy = field(default_factory=JoinPolicy)
    with_words: bool = False
    usage: Usage = field(default_factory=Usage)
    chunk_count: int = 0
    cache_hits: int = 0
    started_at: float = field(default_factory=time.perf_counter)
    first_audio_at: Optional[float] = None
    _samples: int = 0
    _order: asyncio.Queue = field(default_factory=asyncio.Queue)
    _feeder: Optional[asyncio.Task] = None
    _closed: bool = False

    def __post_init__(self):
        self.backend.active_requests += 1
        self._feeder = asyncio.create_task(self._feed())

    @property
    def seed(self) -> int:
        return self.stream.seed

    def _items(self) -> Iterator[PlanItem]:
        yield from self.head
        yield from self.plan

    async def _feed(self) -> None:
        items = self._items()
        index = 0   # position among spoken chunks: the chunk's seed derives from it
        try:
            while (item := await anyio.to_thread.run_sync(next, items, None)) is not None:
                if isinstance(item, Pause):
                    self._order.put_nowait(item)
                    continue
                ids = self.backend.token_ids(item.chunk.phonemes)
                if not ids:
                    continue
                voicing = item.voicing
                seed = chunk_seed(self.seed, index) if self.seeded else None
                key = self.cache.key(self.backend.version, item.chunk.phonemes, voicing.pack, voicing.speed,
                                     seed) if self.cache else None
                cached = self.cache.get(key) if self.cache else None
                if cached is None:
                    await self.stream.submit(ids, self.backend.style(voicing.pack, len(ids)), voicing.speed,
                                             seed_index=index)
                else:
                    self.cache_hits += 1
                self._order.put_nowait(_Planned(item, ids, key, cached))
                self.usage.input_tokens += len(ids)
                self.chunk_count += 1
                index += 1
            self.stream.end_input()
        except StreamClosed:
            pass
        except Exception as exc:
            logger.opt(exception=exc).error("text processing failed")
            self.stream.fail(exc)
        finally:
            self._order.put_nowait(None)

    async def pieces(self) -> AsyncIterator[AudioPiece]:
        """The request's audio in order, one piece per chunk (with the pause before it) or pause.

        Raises RequestTimeout (504) once the request has run for ``timeout_s``, or the error that
        failed the request. Closes the job when done.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        results = self.stream.results(deadline)
        join_frames = 0
        try:
            while True:
                entry = await asyncio.wait_for(self._order.get(), max(0.0, deadline - loop.time()))
                if entry is None:
                    async for _ in results:   # nothing is left but a failure, if there was one
                        pass
                    return
                if isinstance(entry, Pause):
                    join_frames = 0   # the user chose this pause: no join pause beside it
                    piece = AudioPiece(silence(round(entry.seconds * SAMPLE_RATE)), [])
                else:
                    output = entry.cached or await results.__anext__()
                    if entry.cached is None and self.cache is not None:
                        self.cache.put(entry.key, output)
                    piece = self._chunk_piece(entry, output, join_frames * SAMPLES_PER_FRAME)
                    join_frames = self.join.pause_after(entry.item.chunk.text)
                if self.first_audio_at is None:
                    self.first_audio_at = time.perf_counter()
                self._samples += len(piece.pcm)
                self.usage.output_tokens = math.ceil(self._samples / SAMPLES_PER_FRAME)
                yield piece
        except asyncio.TimeoutError as exc:
            raise RequestTimeout(f"the request ran past its {self.timeout_s:g} s deadline (REQUEST_TIMEOUT_S)",
                                 code="request_timeout") from exc
        finally:
            await results.aclose()
            self.close()

    def _chunk_piece(self, entry: _Planned, output: ChunkOutput, lead: int) -> AudioPiece:
        start, end = self.join.trim_bounds(output.audio)
        if self._samples == 0:
            lead = 0   # no join pause before the very first audio
        pcm = to_int16(output.audio[start:end], self.volume)
        if lead:
            pcm = np.concatenate([silence(lead), pcm])
        words = []
        if self.with_words:
            words = word_timings(entry.item.chunk.tokens, self.backend.vocab, output.pred_dur,
                                 (self._samples + lead) / SAMPLE_RATE, start, end - start)
        return AudioPiece(pcm, words)

    async def pcm(self) -> AsyncIterator[np.ndarray]:
        """The request's audio as s16 mono 24 kHz arrays (see ``pieces``)."""
        async for piece in self.pieces():
            yield piece.pcm

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
        return self._samples / SAMPLE_RATE


class _Voicings:
    """Resolves each segment's voice spec (aliases first) and pace, once per distinct pair."""

    def __init__(self, service: "SpeechService", backend: KokoroBackend, request: SpeechRequest):
        self.service, self.backend, self.request = service, backend, request
        self._resolved: dict[tuple, Voicing] = {}

    def _alias(self, spec: str) -> tuple[str, float]:
        alias = self.request.voice_aliases.get(spec.strip())
        if alias is None:
            return spec, 1.0
        if isinstance(alias, VoiceAlias):
            return alias.voice, alias.rate
        return alias, 1.0

    async def resolve(self, voice: Optional[str], rate: Optional[float]) -> Voicing:
        key = (voice, rate)
        if key not in self._resolved:
            spec, alias_rate = self._alias(voice if voice is not None else self.request.voice_name)
            name, pack = await self.service.voice(self.backend, spec)
            lang_hint = self.request.lang_code or self.backend.voices.primary_name(name)[:1]
            lang = self.backend.spec.normalize_lang(lang_hint)
            g2p = await anyio.to_thread.run_sync(self.backend.g2p, lang)
            speed = min(4.0, max(0.25, self.request.speed * alias_rate * (rate or 1.0)))
            self._resolved[key] = Voicing(name, pack, speed, g2p, lang in ENGLISH)
        return self._resolved[key]

    def __call__(self, segment: SpeechSegment) -> Voicing:
        return self._resolved[(segment.voice, segment.rate)]


class SpeechService:
    """Validates and admits speech requests; see the module docstring."""

    def __init__(self, settings: Settings, manager: ModelManager, scheduler: InferenceScheduler):
        self.settings = settings
        self.manager = manager
        self.scheduler = scheduler
        self.limits = limits_from(settings)
        self.join = join_policy_from(settings)
        self.cache = ChunkCache(settings.chunk_cache_mb * 1024 * 1024)
        self.pronunciations = PronunciationDict(load_file(settings.pronunciations_file))

    def check_input(self, text: str, param: str = "input") -> str:
        """MAX_INPUT_CHARS and non-empty, for every endpoint's text (``param`` names its field)."""
        if len(text) > self.settings.max_input_chars:
            raise InvalidRequest(
                f"{param} is {len(text)} characters; this server accepts at most {self.settings.max_input_chars} "
                "(MAX_INPUT_CHARS)", param=param, code="input_too_long")
        if not text.strip():
            raise InvalidRequest(f"{param} is empty", param=param, code="empty_input")
        return text

    async def phonemize(self, text: str, model: str, language: Optional[str],
                        options: NormalizationOptions) -> tuple[str, KokoroBackend]:
        """What the text pipeline makes of ``text`` (``/dev/phonemize``): normalized (English), split into
        sentences, G2P'd. Same limits as speech: MAX_INPUT_CHARS, and REQUEST_TIMEOUT_S checked between
        sentences (a 504; the worker thread stops at the next sentence)."""
        self.check_input(text, "text")
        backend = await self.manager.get(self.manager.version_for(model))
        lang = backend.spec.normalize_lang(language or "a")
        g2p = await anyio.to_thread.run_sync(backend.g2p, lang)
        deadline = time.perf_counter() + self.settings.request_timeout_s

        def run() -> str:
            normalized = text
            if lang in ENGLISH and options.normalize:
                normalized = normalize_text(MappedText.of(text), options).text
            words = []
            for sentence in split_sentences(normalized):
                if time.perf_counter() > deadline:
                    raise RequestTimeout(f"phonemizing ran past its {self.settings.request_timeout_s:g} s deadline "
                                         "(REQUEST_TIMEOUT_S)", code="request_timeout")
                words.append(join_phonemes(g2p(sentence)))
            return " ".join(words).strip()

        return await anyio.to_thread.run_sync(run), backend

    async def voice(self, backend: KokoroBackend, spec: str) -> tuple[str, torch.Tensor]:
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

    def check_pauses(self, segments, input_chars: int, speed: float) -> None:
        """Refuse a request whose pauses add up to more than MAX_TOTAL_PAUSE_S or twice its estimated
        speech, whichever is more (silence is cheap to ask for and costly to send: 416 characters of
        tags could ask for minutes of it)."""
        pauses = [s for s in segments if isinstance(s, PauseSegment)]
        total = sum(p.seconds for p in pauses)
        if not pauses or total <= self.settings.max_total_pause_s:
            return
        speech_chars = input_chars - sum(p.end - p.start for p in pauses)
        limit = max(self.settings.max_total_pause_s, 2 * speech_chars / _CHARS_PER_SECOND / speed)
        if total > limit:
            raise InvalidRequest(
                f"the pauses add up to {total:.1f} s, more than this request may ask for ({limit:.1f} s: "
                f"MAX_TOTAL_PAUSE_S={self.settings.max_total_pause_s:g} or twice the speech, whichever is more)",
                param="input", code="pause_limit")

    def _segments(self, request: SpeechRequest):
        if request.ssml:
            return parse_ssml(request.input, max_pause_s=self.settings.max_pause_s)
        if request.allow_voice_tags and not self.settings.allow_voice_tags:
            raise Forbidden("voice and rate tags are disabled on this server (ALLOW_VOICE_TAGS=false)",
                            param="allow_voice_tags", code="voice_tags_disabled")
        return parse_inline(request.input, allow_voice_tags=request.allow_voice_tags,
                            max_pause_s=self.settings.max_pause_s)

    def _dictionary(self, request: SpeechRequest, backend: KokoroBackend) -> PronunciationDict:
        """The server's pronunciations under the request's own (checked against the version's phonemes)."""
        if not request.pronunciations:
            return self.pronunciations
        entries = parse_entries(request.pronunciations, source="pronunciations", param="pronunciations",
                                max_entries=MAX_REQUEST_ENTRIES)
        check_phonemes(entries.values(), backend.vocab, source="pronunciations", param="pronunciations",
                       model=backend.spec.model_id)
        return PronunciationDict(entries, base=self.pronunciations)

    async def start(self, request: SpeechRequest, with_words: bool = False) -> SpeechJob:
        self.check_input(request.input)
        backend = await self.manager.get(self.manager.version_for(request.model))
        dictionary = self._dictionary(request, backend)
        segments = await anyio.to_thread.run_sync(lambda: dictionary.apply(self._segments(request)))
        self.check_pauses(segments, len(request.input), request.speed)
        voicings = _Voicings(self, backend, request)
        primary = await voicings.resolve(None, None)
        for segment in segments:
            if isinstance(segment, SpeechSegment):
                await voicings.resolve(segment.voice, segment.rate)
        options = request.normalization_options
        normalize = partial(normalize_text, options=options) if options.normalize else None
        plan = SpeechPlanner(self.limits, normalize).plan(segments, voicings)
        return await self._launch(backend, plan, primary.voice, request, with_words, len(request.input))

    async def start_phonemes(self, request: SpeechRequest, phonemes: str) -> SpeechJob:
        """Speak phonemes as given (``/dev/generate_from_phonemes``), cut at spaces into model-sized chunks."""
        self.check_input(phonemes, "phonemes")
        backend = await self.manager.get(self.manager.version_for(request.model))
        voicing = await _Voicings(self, backend, request).resolve(None, None)
        words = [PhonemeToken("", word, " ") for word in phonemes.split()]
        chunks = pack_sentences([words], self.limits)
        plan = (SpeechChunk(chunk, voicing) for chunk in chunks)
        return await self._launch(backend, plan, voicing.voice, request, False, len(phonemes))

    async def _launch(self, backend: KokoroBackend, plan: Iterator[PlanItem], voice: str,
                      request: SpeechRequest, with_words: bool, estimated_tokens: int) -> SpeechJob:
        # Admission weighs the request by its size: about one phoneme per character of English text.
        stream = self.scheduler.open_stream(backend, request.seed, estimated_tokens=estimated_tokens)
        try:
            head = []
            while True:   # up to the first chunk that says something: errors surface before a byte is sent
                item = await anyio.to_thread.run_sync(next, plan, None)
                if item is None:
                    raise InvalidRequest("input has no speakable text", param="input", code="unspeakable_input")
                head.append(item)
                if isinstance(item, SpeechChunk) and backend.token_ids(item.chunk.phonemes):
                    break
            return SpeechJob(backend, stream, plan, head, voice, request.volume_multiplier,
                             self.settings.request_timeout_s, request.seed is not None, self.cache, self.join,
                             with_words)
        except BaseException:
            stream.close()
            raise

