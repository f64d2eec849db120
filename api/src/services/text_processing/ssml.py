"""A safe subset of SSML, parsed into segments whose text maps back to the original input.

``parse_ssml`` accepts a document with or without a ``<speak>`` root (an optional XML declaration
first). Supported elements:

- ``speak``: a container; its attributes are ignored.
- ``break``: a ``PauseSegment`` of ``time`` (``500ms``, ``1.5s``; a unit is required) or of
  ``strength`` (none 0, x-weak 0.1, weak 0.2, medium 0.4, strong 0.7, x-strong 1.0 s; ``time`` wins,
  neither means medium), capped at ``max_pause_s``. It must be empty.
- ``prosody rate``: x-slow 0.5, slow 0.75, medium/default 1, fast 1.25, x-fast 1.5, ``120%`` or
  ``0.8``; each value in (0, 4]; nested rates multiply. Other prosody attributes are ignored.
- ``voice name="..."``: the name is carried as written (a voice spec, resolved by the caller); it
  applies to the element's content and the outer voice comes back at its end.
- ``phoneme alphabet="ipa" ph="..."`` (alphabet may be omitted): a ``Pronunciation`` of its text.
- ``sub alias="..."``: the alias is spoken, mapped as a whole to the span of the element's content.
- ``say-as``: its content is spoken as written.
- ``p`` and ``s``: their start and end are piece (sentence) boundaries.
``phoneme``, ``sub`` and ``break`` contain text only. Attribute values are read literally. Anything
else is a 400 with code ``invalid_ssml`` and param ``input``: an unknown element (the message lists
the supported ones), a bad attribute value, nesting deeper than ``max_depth``, malformed XML (with
the parser's line and column, 1-based, in the original input), and any DTD: a ``<!DOCTYPE`` anywhere in the
input is refused before parsing, so no entity can be declared and none can be external. The
predefined entities and character references are expanded.

Offsets: expat reports each event's byte offset in the UTF-8 encoding of the document; those are
turned into indices of the original ``str``. Text taken verbatim maps character by character; a run
that is not verbatim (an entity reference, a normalized ``\\r\\n``) maps as a whole to the raw span it
was written as.
"""
from __future__ import annotations

import bisect
import re
import xml.parsers.expat as expat
from dataclasses import dataclass, field
from typing import NoReturn, Optional

from ...core.exceptions import InvalidRequest
from .mapped_text import MappedText
from .markup import MAX_RATE, SegmentBuilder
from .segments import Pronunciation, Segment

SUPPORTED = ("break", "p", "phoneme", "prosody", "s", "say-as", "speak", "sub", "voice")
STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.2, "medium": 0.4, "strong": 0.7, "x-strong": 1.0}
RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.5}
_TEXT_ONLY = ("break", "phoneme", "sub")

# The parser always sees the input inside this root (after an XML declaration, which must come first),
# so input with and without <speak> parse alike; offsets are corrected for it.
_ROOT = "kokoro-ssml-root"
_OPEN = f"<{_ROOT}>".encode()
_CLOSE = f"</{_ROOT}>".encode()
_DECLARATION = re.compile(r"<\?xml[^>]{0,500}+>")
_TIME = re.compile(r"(?P<number>\d{1,12}+(?:\.\d{0,12}+)?|\.\d{1,12}+)\s{0,8}+(?P<unit>ms|s)")
_NUMBER = re.compile(r"\d{1,12}+(?:\.\d{0,12}+)?|\.\d{1,12}+")


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="input", code="invalid_ssml")


class _Offsets:
    """Byte offsets of the parsed document -> indices of the original string."""

    def __init__(self, text: str, data: bytes, inserted_at: int):
        self.text = text
        self.size = len(data)
        self.inserted_at = inserted_at
        # ASCII: bytes and characters coincide; otherwise the byte offset where each character starts.
        self.char_starts: Optional[list[int]] = None
        if len(data) != len(text):
            starts, at = [], 0
            for ch in text:
                starts.append(at)
                code = ord(ch)
                at += 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
            starts.append(at)
            self.char_starts = starts

    def char(self, doc_byte: int) -> int:
        b = doc_byte
        if b >= self.inserted_at:
            b = max(self.inserted_at, b - len(_OPEN))
        b = min(b, self.size)
        return b if self.char_starts is None else bisect.bisect_left(self.char_starts, b)

    def line_column(self, index: int) -> tuple[int, int]:
        return self.text.count("\n", 0, index) + 1, index - (self.text.rfind("\n", 0, index) + 1) + 1


@dataclass
class _Frame:
    name: str
    voice: Optional[str]
    rate: Optional[float]
    start: int = 0                                   # original index of the start tag
    attrs: dict[str, str] = field(default_factory=dict)
    content: Optional[list[MappedText]] = None       # text-only elements collect their text here

    def text(self) -> list[MappedText]:
        """The text a text-only element (``_TEXT_ONLY``) collected."""
        assert self.content is not None, f"<{self.name}> does not collect text"
        return self.content


class _SSMLParser:
    """Expat event handlers that drive a SegmentBuilder; one instance per document."""

    def __init__(self, text: str, max_pause_s: float, max_depth: int):
        self.text = text
        self.max_pause_s = max_pause_s
        self.max_depth = max_depth
        self.builder = SegmentBuilder()
        self.stack: list[_Frame] = []
        # Character chunks not handed on yet: all verbatim from run_start on, except perhaps the last
        # (at last_start), whose raw end is only known at the next event.
        self.run: list[str] = []
        self.run_start = self.last_start = 0
        self.parser = expat.ParserCreate(encoding="UTF-8")

    def parse(self) -> list[Segment]:
        raw = self.text.encode("utf-8", "surrogatepass")  # a lone surrogate is then malformed XML, not a crash
        _refuse_dtd(raw)
        declaration = _DECLARATION.match(self.text)
        at = len(declaration.group(0).encode()) if declaration and declaration.group(0).endswith("?>") else 0
        self.offsets = _Offsets(self.text, raw, at)
        p = self.parser
        p.buffer_text = False   # one callback per raw run, so each has its own byte offset
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._chars
        for name in ("CommentHandler", "ProcessingInstructionHandler",
                     "StartCdataSectionHandler", "EndCdataSectionHandler"):
            setattr(p, name, self._other)
        try:
            p.Parse(raw[:at] + _OPEN + raw[at:] + _CLOSE, True)
        except expat.ExpatError as exc:
            line, column = self.offsets.line_column(self.offsets.char(p.ErrorByteIndex))
            raise _invalid(f"malformed SSML: {expat.ErrorString(exc.code)} at line {line}, column {column}") from None
        self._settle()
        return self.builder.finish()

    # -- positions ----------------------------------------------------------------------------------
    def _here(self) -> int:
        return self.offsets.char(self.parser.CurrentByteIndex)

    def _where(self) -> str:
        line, column = self.offsets.line_column(self._here())
        return f"at line {line}, column {column}"

    def _settle(self) -> None:
        """The current event ends the pending run of character chunks: map it and hand it on."""
        if not self.run:
            return
        here, run, last = self._here(), self.run, self.last_start
        self.run = []
        if self.text[last:here] == run[-1]:
            self._emit(MappedText.of("".join(run), self.run_start))
            return
        if len(run) > 1:
            self._emit(MappedText.of("".join(run[:-1]), self.run_start))
        self._emit(MappedText.synthetic(run[-1], last, here))

    def _emit(self, piece: MappedText) -> None:
        frame = self.stack[-1]
        if frame.content is not None:
            frame.content.append(piece)
        else:
            self.builder.add_text(piece)

    # -- handlers -----------------------------------------------------------------------------------
    def _chars(self, data: str) -> None:
        # Expat splits text at line breaks and references; verbatim neighbours join one run, so a
        # long text costs one slice comparison per chunk, not one MappedText.
        here = self._here()
        if self.run and self.text[self.last_start:here] == self.run[-1]:
            self.run.append(data)
        else:
            self._settle()
            self.run = [data]
            self.run_start = here
        self.last_start = here

    def _other(self, *_: object) -> None:
        self._settle()

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self._settle()
        if not self.stack:
            self.stack.append(_Frame(_ROOT, None, None))
            return
        parent = self.stack[-1]
        if name not in SUPPORTED:
            raise _invalid(f"unsupported SSML element <{name}> {self._where()}; supported: "
                           + ", ".join(SUPPORTED))
        if parent.name in _TEXT_ONLY:
            raise _invalid(f"<{parent.name}> may contain only text, found <{name}> {self._where()}")
        if len(self.stack) > self.max_depth:
            raise _invalid(f"SSML nested deeper than {self.max_depth} elements {self._where()}")
        frame = _Frame(name, parent.voice, parent.rate, self._here(), attrs,
                       [] if name in _TEXT_ONLY else None)
        if name == "voice":
            frame.voice = self._voice_name(attrs)
        elif name == "prosody" and "rate" in attrs:
            frame.rate = (parent.rate or 1.0) * self._rate(attrs["rate"])
        elif name == "phoneme":
            self._check_phoneme(attrs)
        elif name == "sub" and "alias" not in attrs:
            raise _invalid(f"<sub> needs an alias attribute {self._where()}")
        elif name in ("p", "s"):
            self.builder.end_piece()
        self.stack.append(frame)
        self.builder.switch(frame.voice, frame.rate)

    def _end(self, name: str) -> None:
        self._settle()
        frame = self.stack.pop()
        if not self.stack:
            return
        if name == "break":
            self._break(frame)
        elif name == "phoneme":
            self._phoneme(frame)
        elif name == "sub":
            self._sub(frame)
        elif name in ("p", "s"):
            self.builder.end_piece()
        parent = self.stack[-1]
        self.builder.switch(parent.voice, parent.rate)

    # -- elements -----------------------------------------------------------------------------------
    def _voice_name(self, attrs: dict[str, str]) -> str:
        name: str = attrs.get("name", "").strip()
        if not name:
            raise _invalid(f"<voice> needs a name attribute {self._where()}")
        return name

    def _rate(self, value: str) -> float:
        v = value.strip().lower()
        if v in RATES:
            return RATES[v]
        number = v[:-1] if v.endswith("%") else v
        if _NUMBER.fullmatch(number):
            rate = float(number) / (100.0 if v.endswith("%") else 1.0)
            if 0 < rate <= MAX_RATE:
                return rate
        raise _invalid(f"invalid prosody rate {value!r} {self._where()}: use x-slow, slow, medium, fast, "
                       f"x-fast, a percentage like 120% or a multiplier like 0.8 (above 0, at most {MAX_RATE:g})")

    def _check_phoneme(self, attrs: dict[str, str]) -> None:
        alphabet = attrs.get("alphabet", "ipa").strip().lower()
        if alphabet != "ipa":
            raise _invalid(f"unsupported phoneme alphabet {attrs['alphabet']!r} {self._where()}; only ipa")
        if not attrs.get("ph", "").strip():
            raise _invalid(f"<phoneme> needs a ph attribute {self._where()}")

    def _break(self, frame: _Frame) -> None:
        if any(piece.text.strip() for piece in frame.text()):
            raise _invalid(f"<break> must be empty {self._where()}")
        time, strength = frame.attrs.get("time"), frame.attrs.get("strength")
        if time is not None:
            match = _TIME.fullmatch(time.strip())
            if match is None:
                raise _invalid(f"invalid break time {time!r} {self._where()}: use e.g. 500ms or 1.5s")
            seconds = float(match["number"]) / (1000.0 if match["unit"] == "ms" else 1.0)
        elif strength is not None:
            if strength.strip() not in STRENGTHS:
                raise _invalid(f"invalid break strength {strength!r} {self._where()}; use one of "
                               + ", ".join(STRENGTHS))
            seconds = STRENGTHS[strength.strip()]
        else:
            seconds = STRENGTHS["medium"]
        self.builder.add_pause(min(seconds, self.max_pause_s), frame.start, self._here())

    @staticmethod
    def _joined(frame: _Frame) -> MappedText:
        pieces = frame.text()
        return MappedText("".join(p.text for p in pieces), tuple(i for p in pieces for i in p.starts),
                          tuple(i for p in pieces for i in p.ends)).strip()

    def _phoneme(self, frame: _Frame) -> None:
        word = self._joined(frame)
        if not word.text:
            raise _invalid(f"<phoneme> needs the text it pronounces {self._where()}")
        start, end = word.span(0, len(word))
        self.builder.add_pronunciation(Pronunciation(word.text, frame.attrs["ph"].strip(), start, end))

    def _sub(self, frame: _Frame) -> None:
        content = self._joined(frame)
        start, end = content.span(0, len(content)) if content.text else (frame.start, self._here())
        self.builder.add_text(MappedText.synthetic(frame.attrs["alias"], start, end))


class _DtdFound(Exception):
    pass


def _refuse_dtd(raw: bytes) -> None:
    """A pass of an expat parser set to refuse any DTD: a document type declaration, an entity
    declaration or an external entity reference stops it (a 400 naming the DTD). Anything else it
    finds wrong is left to the real parse, which reports it with its position."""

    def refuse(*_: object) -> NoReturn:
        raise _DtdFound

    parser = expat.ParserCreate(encoding="UTF-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    try:
        parser.Parse(raw, True)
    except _DtdFound:
        raise _invalid("SSML must not contain a DTD (<!DOCTYPE ...>); entity declarations are not allowed") from None
    except expat.ExpatError:
        pass


def parse_ssml(text: str, *, max_pause_s: float, max_depth: int = 32) -> list[Segment]:
    """The segments of an SSML input (see the module docstring for the subset and the refusals)."""
    return _SSMLParser(text, max_pause_s, max_depth).parse()
