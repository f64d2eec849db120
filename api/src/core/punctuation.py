"""The punctuation the text pipeline and the audio joiner reason about, in one place.

The sets differ on purpose, each for its reader:
- ``SENTENCE_END`` / ``CLAUSE_END``: how a chunk's text ends, which decides the pause the joiner puts
  after it (a sentence pause, a clause pause, or none).
- ``CLOSED_SENTENCE_END``: a sentence counts as closed when it ends with a sentence mark or with what
  closes one (quotes, brackets) or with the CJK semicolon, which splits sentences there.
- ``SPLIT_WATERFALL``: where an over-long sentence is split, strongest break first.
- ``OPENING`` / ``CLOSING``: what may stand right before / after a word without a space (the symbol
  rule adds spaces around a spoken symbol only where none of these are).
- ``KEEP_PUNCTUATION``: marks the symbol rule never replaces with words (G2P reads them as prosody).
- ``CJK_TO_ASCII``: full-width marks as the ASCII marks (with a space) espeak understands.
"""

SENTENCE_END = tuple(".!?…。！？")
CLAUSE_END = tuple(",;:—，、；：")
CLOSED_SENTENCE_END = tuple(".!?…。！？；\"'”’)]")
SPLIT_WATERFALL = ("!.?…。！？", ":;；", ",—，、")
OPENING = "([{\"'“‘«„‚‹¿¡"
CLOSING = ".,;:!?)]}\"'”’»›…"
KEEP_PUNCTUATION = ".,;:!?'\"()[]{}-–—‐‑‒…/‘’“”«»„‚‹›¿¡·"
CJK_TO_ASCII = {"、": ", ", "。": ". ", "！": "! ", "，": ", ", "：": ": ", "；": "; ", "？": "? "}
