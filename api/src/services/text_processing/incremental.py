"""Text that arrives in pieces (an LLM's reply, token by token), cut into parts that can be spoken now.

``IncrementalText`` keeps the text of one stream and hands out ``TextPart``s: spans of it that no later
text can change the reading of. The cuts follow the whole-text pipeline's own sentence boundaries
(``sentences``), so a stream cut only there reads exactly as the same text sent at once:

- a sentence is settled once the whitespace after its final punctuation has arrived (``Hello.`` then
  `` Next``); the sentence still being written is held, and with it a number that may grow (``3.`` +
  ``14``), a period that may belong to an abbreviation the normalizer spells out (``Dr.``, ``e.g.``,
  an initial: no cut after those), and an unclosed markup tag (``[pause:``, ``[word](/…``);
- no cut inside a tag, nor inside an open Markdown code fence.

Forced cuts, where the reading may differ from the whole text (each side is read as its own
sentence), are marked ``forced``: a sentence longer than ``clause_chars`` is cut at its last clause
mark at least ``min_clause_chars`` in, one longer than ``max_chars`` at its last space; a tail longer
than ``hard_chars`` (an open code fence, a word without end) is cut whatever holds it. ``flush()`` cuts
everything buffered (``quiet=True``, for a quiet gap in the input: an unclosed tag still waits).
Work is linear in the text added: a call scans only the unsettled tail, which the cuts keep short, and
only when its delta could settle something (or every ``_RESCAN_CHARS`` characters).
"""
import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Optional

from ...core.exceptions import InvalidRequest
from .markup import _TAG
from .sentences import _BOUNDARY

# A "[" whose tail could still become a tag: "[" + a tag's text so far (no line break, no other "[").
_OPEN_TAG = re.compile(r"\[[^\[\]\n]{0,200}+(?:\](?:\((?:/[^/\n()\[\]]{0,400}+/?)?)?)?")
# Words whose period the normalizer may read as part of the word (it spells them out, and decides by
# what follows whether the sentence ended): no cut after them. Single letters are initials ("J. Smith").
_NO_CUT_BEFORE_PERIOD = re.compile(
    r"(?:^|(?<=[\s(\[\"'“‘]))(?:Dr|Mr|Mrs|Ms|Prof|Mt|St|Jr|Sr|Inc|Ltd|Corp|Co|Ave|Jan|Feb|Mar|Apr|Jun|Jul|Aug"
    r"|Sept?|Oct|Nov|Dec|(?i:etc|approx|e\.g|i\.e|vs|no)|[A-Za-z])\.$")
_CLAUSE_MARK = re.compile(r"[,;:—–](?=\s)")
_FENCE = re.compile(r"^[ \t]{0,3}(?:```|~~~)", re.M)
# A delta without any of these cannot settle a cut (no sentence end, no tag or fence closed) unless it
# begins a word after a space: the tail is scanned again only then, or after _RESCAN_CHARS more
# characters (the length cuts).
_SETTLES = re.compile(r"[\s\])`~。！？；]")
_RESCAN_CHARS = 64


@dataclass(frozen=True)
class TextPart:
    """``text`` = the stream's ``[start, start + len(text))``; ``forced``: cut where a sentence did not end."""

    start: int
    text: str
    forced: bool = False


class IncrementalText:
    """One stream's text and how much of it was handed out; see the module docstring.

    ``max_buffered``: characters held and not yet handed out (more is a 400, ``input_too_long``).
    ``whole_only``: nothing is cut before ``flush`` (SSML, which is only read as a whole document).
    """

    def __init__(self, max_buffered: int, *, whole_only: bool = False, clause_chars: int = 100,
                 min_clause_chars: int = 40, max_chars: int = 300, hard_chars: int = 1000):
        self.max_buffered = max_buffered
        self.whole_only = whole_only
        self.clause_chars, self.min_clause_chars, self.max_chars = clause_chars, min_clause_chars, max_chars
        self.hard_chars = hard_chars
        self._tail = ""                 # received and not handed out
        self._unscanned = 0             # characters added since the tail was last scanned
        self.settled = 0                # the stream's characters handed out
        self.received = 0               # the stream's characters received

    @property
    def buffered(self) -> str:
        return self._tail

    def add(self, delta: str) -> Optional[TextPart]:
        """Append ``delta``; the part that is now settled, if any."""
        if len(self._tail) + len(delta) > self.max_buffered:
            raise InvalidRequest(
                f"the text not yet spoken would be {len(self._tail) + len(delta)} characters; this server holds at "
                f"most {self.max_buffered} (MAX_INPUT_CHARS)", param="text", code="input_too_long")
        after_blank = self._tail[-1:].isspace()   # the delta may begin the sentence after a finished one
        self._tail += delta
        self.received += len(delta)
        self._unscanned += len(delta)
        if self.whole_only or not (after_blank or _SETTLES.search(delta) or self._unscanned >= _RESCAN_CHARS):
            return None
        self._unscanned = 0
        cut, forced = self._cut()
        return self._take(cut, forced) if cut else None

    def flush(self, quiet: bool = False) -> Optional[TextPart]:
        """Everything buffered as one part (``quiet``: up to an unclosed tag, which still waits)."""
        end = len(self._tail)
        if quiet and not self.whole_only:
            end = self._hold_from(self._tail)
        if not self._tail[:end].strip():
            return None
        return self._take(end, forced=True)

    def _take(self, end: int, forced: bool) -> TextPart:
        part = TextPart(self.settled, self._tail[:end], forced)
        self._tail = self._tail[end:]
        self.settled += end
        return part

    @staticmethod
    def _hold_from(text: str) -> int:
        """Where an unclosed tag (or open code fence) starts: nothing from there on may be cut off."""
        hold = len(text)
        fences = list(_FENCE.finditer(text))
        if len(fences) % 2:
            hold = fences[-1].start()
        q = text.rfind("[")
        if q >= 0 and _OPEN_TAG.fullmatch(text, q) and not _TAG.match(text, q):
            hold = min(hold, q)
        return hold

    def _cut(self) -> tuple[int, bool]:
        """The last settled cut of the tail (0: none) and whether it is forced."""
        text = self._tail
        hold = self._hold_from(text)
        tag_starts, tag_ends = [], []
        for m in _TAG.finditer(text, 0, hold):
            tag_starts.append(m.start())
            tag_ends.append(m.end())

        def outside_tags(i: int) -> bool:   # tags do not overlap: the last one starting before i decides
            k = bisect_left(tag_starts, i) - 1
            return k < 0 or tag_ends[k] <= i

        best = 0
        for m in _BOUNDARY.finditer(text, 0, hold):
            end = m.end()
            if end >= len(text) or not outside_tags(end) or not text[end:hold].strip():
                continue   # a run that may still grow, or nothing of the next sentence yet
            if m.group().startswith(".") and _NO_CUT_BEFORE_PERIOD.search(text, max(0, m.start() - 8), m.start() + 1):
                continue
            best = end
        rest = text[best:hold]
        if len(rest) > self.clause_chars:
            clauses = [m.end() for m in _CLAUSE_MARK.finditer(rest)
                       if m.end() >= self.min_clause_chars and outside_tags(best + m.end())]
            if clauses:
                return best + clauses[-1], True
            if len(rest) > self.max_chars:
                space = max(rest.rfind(" "), rest.rfind("\n"))
                if space > 0 and outside_tags(best + space):
                    return best + space, True
        if len(text) - best > self.hard_chars:   # held past any reading: an open fence, a word without end
            space = max(text.rfind(" ", best), text.rfind("\n", best))
            return (space if space > best else len(text)), True
        return best, False
