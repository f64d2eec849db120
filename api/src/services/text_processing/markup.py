"""Inline markup in plain-text input: pauses, custom pronunciations, and voice/rate switches.

``parse_inline`` turns a request's ``input`` into ``list[Segment]``. Recognized tags (the keyword is
case-insensitive; a value may not contain ``[``, ``]`` or a line break and is at most 200 characters):

- ``[pause:1.5s]``, ``[pause:500ms]``, ``[pause:2]`` (seconds): a ``PauseSegment`` capped at
  ``max_pause_s``. A negative, missing or unreadable duration is a 400 (code ``invalid_pause``).
- ``[word](/phonemes/)`` (misaki's link syntax): a ``Pronunciation`` spanning ``word`` (not the
  brackets). A link whose target is not ``/.../`` (a real markdown link) stays text.
- ``[voice:spec]`` switches the voice from there on; ``spec`` is carried as written (resolving it is
  the caller's job); ``[voice]`` / ``[voice:default]`` returns to the request's voice (None).
- ``[rate:1.3]`` multiplies the request's speed from there on (0 < rate <= 4); ``[rate]``,
  ``[rate:default]`` and ``[rate:1]`` reset it (None). Anything else is a 400 (``invalid_rate``).

When ``allow_voice_tags`` is False, a ``[voice..]`` or ``[rate..]`` tag is a 400 (code
``voice_tags_disabled``): it is refused, not spoken as text and not dropped, so the user learns why
the voice did not change.

Every character outside tags is kept, verbatim and in order, mapped to its position in the original
input; a ``[`` that does not start a valid tag is text. Each change of voice or rate and each pause
starts a new ``SpeechSegment``; segments and text pieces that are only whitespace are omitted.
Matching is linear: every tag pattern is anchored at a ``[``, has bounded possessive runs, and cannot
run past the next ``[``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ...core.exceptions import InvalidRequest
from .mapped_text import MappedText
from .segments import PauseSegment, Piece, Pronunciation, Segment, SpeechSegment

MAX_RATE = 4.0

_TAG = re.compile(
    r"\[(?:"
    r"(?P<kind>(?i:pause|voice|rate))(?::(?P<value>[^\[\]\n]{0,200}+))?\]"
    r"|(?P<word>[^\[\]\n]{1,200}+)\]\(/(?P<phonemes>[^/\n()\[\]]{1,400}+)/\)"
    r")"
)
_DURATION = re.compile(r"(?P<number>\d{1,12}+(?:\.\d{0,12}+)?|\.\d{1,12}+)\s{0,8}+(?P<unit>ms|s)?", re.I)
_NUMBER = re.compile(r"\d{1,12}+(?:\.\d{0,12}+)?|\.\d{1,12}+")


class SegmentBuilder:
    """Collects pieces into segments in input order; shared by the inline and SSML parsers.

    Text is buffered and becomes one ``MappedText`` piece at the next piece boundary, so text split
    across several appends (expat's character chunks) stays one piece. A piece that is only whitespace
    is dropped, and so is a speech segment with no pieces left.
    """

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self._pieces: list[Piece] = []
        self._texts: list[str] = []
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._voice: Optional[str] = None
        self._rate: Optional[float] = None

    def add_text(self, text: MappedText) -> None:
        self._texts.append(text.text)
        self._starts.extend(text.starts)
        self._ends.extend(text.ends)

    def end_piece(self) -> None:
        """Close the buffered text as one piece (a sentence boundary for the pipeline)."""
        if not self._texts:
            return
        text = "".join(self._texts)
        if text.strip():
            self._pieces.append(MappedText(text, tuple(self._starts), tuple(self._ends)))
        self._texts, self._starts, self._ends = [], [], []

    def add_pronunciation(self, pronunciation: Pronunciation) -> None:
        self.end_piece()
        self._pieces.append(pronunciation)

    def add_pause(self, seconds: float, start: int, end: int) -> None:
        self.end_segment()
        self.segments.append(PauseSegment(seconds, start, end))

    def switch(self, voice: Optional[str], rate: Optional[float]) -> None:
        """Speak what follows in ``voice`` at ``rate`` (None: the request's own)."""
        if rate is not None and abs(rate - 1.0) < 1e-9:
            rate = None
        if (voice, rate) == (self._voice, self._rate):
            return
        self.end_segment()
        self._voice, self._rate = voice, rate

    def end_segment(self) -> None:
        self.end_piece()
        if self._pieces:
            self.segments.append(SpeechSegment(self._pieces, self._voice, self._rate))
        self._pieces = []

    def finish(self) -> list[Segment]:
        self.end_segment()
        return self.segments


def _invalid(message: str, code: str) -> InvalidRequest:
    return InvalidRequest(message, param="input", code=code)


def parse_pause(value: Optional[str], *, max_pause_s: float, tag: str) -> float:
    """Seconds from ``1.5s`` / ``500ms`` / ``2`` (seconds), capped at ``max_pause_s``."""
    value = (value or "").strip()
    match = _DURATION.fullmatch(value)
    if match is None:
        reason = "must not be negative" if value.startswith("-") else "must be like 1.5s, 500ms or 2"
        raise _invalid(f"invalid pause {tag}: the duration {reason}", "invalid_pause")
    seconds = float(match["number"])
    if (match["unit"] or "s").lower() == "ms":
        seconds /= 1000.0
    return min(seconds, max_pause_s)


def parse_rate(value: Optional[str], *, tag: str) -> Optional[float]:
    """A rate multiplier in (0, 4]; None for the default (no value, ``default`` or 1)."""
    if value is None or value.strip().lower() == "default":
        return None
    value = value.strip()
    if not _NUMBER.fullmatch(value) or not 0 < float(value) <= MAX_RATE:
        raise _invalid(f"invalid rate {tag}: it must be a number above 0 and at most {MAX_RATE:g}, "
                       "or 'default'", "invalid_rate")
    rate = float(value)
    return None if rate == 1.0 else rate


@dataclass(frozen=True)
class InlineState:
    """The voice and rate tags in force at a point of a text (None: the request's own)."""

    voice: Optional[str] = None
    rate: Optional[float] = None


class _InlineParser:
    """One pass over the input: text between tag matches is kept, each match is acted on."""

    def __init__(self, text: str, allow_voice_tags: bool, max_pause_s: float, state: InlineState):
        self.text = text
        self.allow_voice_tags = allow_voice_tags
        self.max_pause_s = max_pause_s
        self.builder = SegmentBuilder()
        self.voice: Optional[str] = state.voice
        self.rate: Optional[float] = state.rate
        self.builder.switch(self.voice, self.rate)

    def parse(self) -> list[Segment]:
        last = 0
        for match in _TAG.finditer(self.text):
            if match.start() > last:
                self.builder.add_text(MappedText.of(self.text[last:match.start()], last))
            if match["kind"]:
                self._tag(match)
            else:
                self._pronunciation(match)
            last = match.end()
        if last < len(self.text):
            self.builder.add_text(MappedText.of(self.text[last:], last))
        return self.builder.finish()

    def _tag(self, match: re.Match[str]) -> None:
        kind, value, tag = match["kind"].lower(), match["value"], match.group(0)
        if kind == "pause":
            seconds = parse_pause(value, max_pause_s=self.max_pause_s, tag=tag)
            self.builder.add_pause(seconds, match.start(), match.end())
            return
        if not self.allow_voice_tags:
            raise _invalid(f"{tag}: voice and rate tags are disabled on this server (ALLOW_VOICE_TAGS) "
                           "or by this request", "voice_tags_disabled")
        if kind == "voice":
            self.voice = self._voice(value, tag)
        else:
            self.rate = parse_rate(value, tag=tag)
        self.builder.switch(self.voice, self.rate)

    @staticmethod
    def _voice(value: Optional[str], tag: str) -> Optional[str]:
        if value is None or value.strip().lower() == "default":
            return None
        if not value.strip():
            raise _invalid(f"invalid voice tag {tag}: name a voice, or use [voice:default]", "invalid_voice_tag")
        return value.strip()

    def _pronunciation(self, match: re.Match[str]) -> None:
        word, phonemes = match["word"], match["phonemes"].strip()
        lead = len(word) - len(word.lstrip())
        word_start = match.start("word") + lead
        word = word.strip()
        if not word or not phonemes:
            # Nothing to pronounce: keep the whole bracket text as it was written.
            self.builder.add_text(MappedText.of(match.group(0), match.start()))
            return
        self.builder.add_pronunciation(Pronunciation(word, phonemes, word_start, word_start + len(word)))


def parse_inline(text: str, *, allow_voice_tags: bool, max_pause_s: float) -> list[Segment]:
    """The segments of a plain-text input with inline tags (see the module docstring for the rules)."""
    return _InlineParser(text, allow_voice_tags, max_pause_s, InlineState()).parse()


def parse_inline_part(text: str, state: InlineState, *, allow_voice_tags: bool,
                      max_pause_s: float) -> tuple[list[Segment], InlineState]:
    """One part of a text streamed in parts: its segments, spoken from ``state`` on (the voice and rate
    its earlier parts left in force), and the state it leaves for the next part. Spans are the part's."""
    parser = _InlineParser(text, allow_voice_tags, max_pause_s, state)
    return parser.parse(), InlineState(parser.voice, parser.rate)
