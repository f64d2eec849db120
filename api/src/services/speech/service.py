"""From a validated speech request to a started ``SpeechJob``: ``SpeechService``.

``SpeechService.start`` does everything that can refuse a request before a byte is sent: model,
markup, pronunciations, voices and aliases, languages, input size and pauses, then (through the
job's ``start``) admission and the first chunk's G2P, so errors arrive as proper 4xx/5xx bodies. It
leases the model version first (``ModelManager.lease``) and hands the lease with the request's plan
(``text_processing.pipeline``) to the ``SynthesisEngine``; the job holds both until it closes.
``phonemize`` runs the same text path without synthesis (``/dev/phonemize``).
"""
import time
from dataclasses import replace
from typing import Callable, Iterator, Optional

import anyio

from ...core.config import Settings
from ...core.exceptions import Forbidden, InvalidRequest, RequestTimeout
from ...core.phonemes import PhonemeToken
from ...inference.backend import KokoroBackend
from ...inference.engine import SynthesisEngine
from ...inference.model_manager import ModelLease, ModelManager
from ...structures.normalization import NormalizationOptions
from ...structures.schemas import SpeechRequest
from ..audio.joiner import JoinPolicy
from ..text_processing.chunker import ChunkLimits, pack_sentences
from ..text_processing.incremental import TextPart
from ..text_processing.markup import InlineState, parse_inline, parse_inline_part
from ..text_processing.pipeline import PlanItem, SpeechChunk, SpeechPlanner, Voicing
from ..text_processing.pronunciations import (
    MAX_REQUEST_ENTRIES,
    PronunciationDict,
    check_phonemes,
    load_file,
    parse_entries,
)
from ..text_processing.segments import PauseSegment, Segment, SpeechSegment, shifted
from ..text_processing.ssml import parse_ssml
from ..text_processing.text_work import Deadline, InProcessText, TextWork
from .job import SpeechJob
from .voicing import ENGLISH, Voicings

# Speech at speed 1 runs about 15 characters of English text a second (an estimate for limits only).
_CHARS_PER_SECOND = 15.0


def limits_from(settings: Settings) -> ChunkLimits:
    return ChunkLimits(settings.first_chunk_max_tokens, settings.target_min_tokens,
                       settings.target_max_tokens, settings.absolute_max_tokens,
                       settings.first_chunk_min_tokens, settings.chunk_ramp)


def join_policy_from(settings: Settings) -> JoinPolicy:
    return JoinPolicy(settings.trim_silence, settings.silence_threshold, settings.silence_margin_s,
                      settings.sentence_pause_s, settings.clause_pause_s, settings.word_pause_s)


class SpeechService:
    """Validates speech requests, plans them and starts their jobs; see the module docstring."""

    def __init__(self, settings: Settings, manager: ModelManager, engine: SynthesisEngine,
                 text: Optional[TextWork] = None):
        self.settings = settings
        self.manager = manager
        self.engine = engine
        self.text: TextWork = text or InProcessText()   # where normalization and G2P run (TEXT_WORKERS)
        self.limits = limits_from(settings)
        first = min(settings.stream_first_chunk_tokens, self.limits.first_max)
        self.live_first_limits = replace(self.limits, first_max=first, first_min=min(self.limits.first_min, first))
        self.join = join_policy_from(settings)
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

    def _normalizer(self, options: NormalizationOptions, deadline: Deadline):
        return self.text.normalizer(options, deadline) if options.normalize else None

    async def phonemize(self, text: str, model: str, language: Optional[str],
                        options: NormalizationOptions) -> tuple[str, KokoroBackend]:
        """What the speech path makes of ``text`` without speaking it (``/dev/phonemize``): markup and the
        server's pronunciations, normalization (English), sentences, G2P and chunks, each chunk's phonemes
        joined by a space. Same limits as speech: MAX_INPUT_CHARS, and REQUEST_TIMEOUT_S (a 504: checked
        between chunks, and by the text workers within each call)."""
        self.check_input(text, "text")
        async with self.manager.lease(self.manager.version_for(model)) as backend:
            timeout_s = self.settings.request_timeout_s
            bound = Deadline.after(timeout_s)
            lang = backend.spec.normalize_lang(language or "a")
            g2p = await anyio.to_thread.run_sync(self.text.g2p, backend, lang, bound)
            voicing = Voicing("", None, 1.0, g2p, lang in ENGLISH)
            deadline = time.perf_counter() + timeout_s

            def run() -> str:
                segments = self.pronunciations.apply(parse_inline(text, allow_voice_tags=False,
                                                                  max_pause_s=self.settings.max_pause_s))
                phonemes = []
                planner = SpeechPlanner(self.limits, self._normalizer(options, bound))
                for item in planner.plan(segments, lambda _: voicing):
                    if time.perf_counter() > deadline:
                        raise RequestTimeout(f"phonemizing ran past its {timeout_s:g} s deadline "
                                             "(REQUEST_TIMEOUT_S)", code="request_timeout")
                    if isinstance(item, SpeechChunk):
                        phonemes.append(item.phonemes)
                return " ".join(phonemes).strip()

            return await anyio.to_thread.run_sync(run), backend

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

    def _check_voice_tags(self, request: SpeechRequest) -> None:
        if request.allow_voice_tags and not self.settings.allow_voice_tags:
            raise Forbidden("voice and rate tags are disabled on this server (ALLOW_VOICE_TAGS=false)",
                            param="allow_voice_tags", code="voice_tags_disabled")

    def _segments(self, request: SpeechRequest) -> list[Segment]:
        if request.ssml:
            return parse_ssml(request.input, max_pause_s=self.settings.max_pause_s)
        self._check_voice_tags(request)
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

    async def _leased(self, model: str) -> ModelLease:
        lease = self.manager.lease(self.manager.version_for(model))
        await lease.acquire()
        return lease

    async def start(self, request: SpeechRequest, with_words: bool = False) -> SpeechJob:
        self.check_input(request.input)
        return await self._start_segments(request, lambda: self._segments(request), len(request.input),
                                          with_words=with_words)

    async def check_request(self, request: SpeechRequest) -> None:
        """What ``start`` would refuse of ``request`` before its text: the model, its pronunciations, its
        voice (a text streamed in parts is checked once, when it opens)."""
        self._check_voice_tags(request)
        async with self.manager.lease(self.manager.version_for(request.model)) as backend:
            self._dictionary(request, backend)
            deadline = Deadline.after(self.settings.request_timeout_s)
            await Voicings(self.manager, backend, request, self.text, deadline,
                           self.settings.max_voices_per_request).resolve(None, None)

    async def start_part(self, request: SpeechRequest, part: TextPart, state: InlineState, *, spoken: int = 0,
                         lead_frames: int = 0) -> tuple[Optional[SpeechJob], InlineState]:
        """One part of a text streamed in parts (``text_processing.incremental``), spoken as ``start`` speaks
        a whole input: ``request`` brings every field but the text, ``state`` the voice and rate tags the
        earlier parts left in force. Word spans point into the whole stream; ``spoken`` and
        ``lead_frames`` carry the chunk ramp and the join pause on from the earlier parts; a part that
        starts the audio (``spoken`` 0) has a first chunk of at most STREAM_FIRST_CHUNK_TOKENS (a listener
        waits for it). Returns the started job (None when the part has nothing to speak) and the state
        after the part."""
        after = state

        def segments():
            nonlocal after
            if request.ssml:
                found = parse_ssml(part.text, max_pause_s=self.settings.max_pause_s)
            else:
                self._check_voice_tags(request)
                found, after = parse_inline_part(part.text, state, allow_voice_tags=request.allow_voice_tags,
                                                 max_pause_s=self.settings.max_pause_s)
            return shifted(found, part.start)

        try:
            limits = self.limits if spoken else self.live_first_limits
            job = await self._start_segments(request, segments, len(part.text), with_words=True, spoken=spoken,
                                             lead_frames=lead_frames, limits=limits)
        except InvalidRequest as exc:
            if exc.code != "unspeakable_input":
                raise
            return None, after   # punctuation or markup only: nothing to say, nothing dropped
        return job, after

    async def _start_segments(self, request: SpeechRequest, segments_of: Callable[[], list[Segment]],
                              input_chars: int, *, with_words: bool, spoken: int = 0, lead_frames: int = 0,
                              limits: Optional[ChunkLimits] = None) -> SpeechJob:
        deadline = Deadline.after(self.settings.request_timeout_s)   # the text work's; the job keeps its own
        lease = await self._leased(request.model)
        try:
            backend = lease.backend
            dictionary = self._dictionary(request, backend)
            segments = await anyio.to_thread.run_sync(lambda: dictionary.apply(segments_of()))
            self.check_pauses(segments, input_chars, request.speed)
            voicings = Voicings(self.manager, backend, request, self.text, deadline,
                                self.settings.max_voices_per_request)
            primary = await voicings.resolve(None, None)
            for segment in segments:
                if isinstance(segment, SpeechSegment):
                    await voicings.resolve(segment.voice, segment.rate)
            plan = SpeechPlanner(limits or self.limits,
                                 self._normalizer(request.normalization_options, deadline)).plan(segments, voicings,
                                                                                                  spoken)
        except BaseException:
            lease.release()
            raise
        return await self._launch(lease, plan, primary.voice, request, with_words, input_chars, lead_frames)

    async def start_phonemes(self, request: SpeechRequest, phonemes: str) -> SpeechJob:
        """Speak phonemes as given (``/dev/generate_from_phonemes``), cut at spaces into model-sized chunks."""
        self.check_input(phonemes, "phonemes")
        lease = await self._leased(request.model)
        try:
            deadline = Deadline.after(self.settings.request_timeout_s)
            voicing = await Voicings(self.manager, lease.backend, request, self.text, deadline, 1).resolve(None, None)
        except BaseException:
            lease.release()
            raise
        words = [PhonemeToken("", word, " ") for word in phonemes.split()]
        plan = (SpeechChunk(chunk, voicing) for chunk in pack_sentences([words], self.limits))
        return await self._launch(lease, plan, voicing.voice, request, False, len(phonemes))

    async def _launch(self, lease: ModelLease, plan: Iterator[PlanItem], voice: str, request: SpeechRequest,
                      with_words: bool, estimated_tokens: int, lead_frames: int = 0) -> SpeechJob:
        # Admission weighs the request by its size: about one phoneme per character of English text.
        synthesis = self.engine.synthesize(lease, plan, seed=request.seed, estimated_tokens=estimated_tokens)
        job = SpeechJob(synthesis=synthesis, voice=voice, volume=request.volume_multiplier,
                        timeout_s=self.settings.request_timeout_s, join=self.join, with_words=with_words,
                        lead_frames=lead_frames)
        return await job.start()
