"""The Kokoro v0.19 symbol table: 178 symbols, index = token id (`$` = 0 is the pad).

Built the way the v0.19 release built it: pad, punctuation, ASCII letters, then IPA letters. The IPA
string holds an apostrophe twice (ids 174 and 176, around the combining vertical line below U+0329);
as in the original dict comprehension the later one wins, so `'` -> 176, id 174 has no symbol and
`VOCAB` has 177 entries.
"""

_PAD = "$"
_PUNCTUATION = ';:,.!?¡¿—…"«»“” '
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_LETTERS_IPA = (
    "ɑɐɒæɓʙβɔɕçɗɖðʤəɘɚɛɜɝɞɟʄɡɠɢʛɦɧħɥʜɨɪʝɭɬɫɮʟɱɯɰŋɳɲɴøɵɸθœ"
    "ɶʘɹɺɾɻʀʁɽʂʃʈʧʉʊʋⱱʌɣɤʍχʎʏʑʐʒʔʡʕʢǀǁǂǃˈˌːˑʼʴʰʱʲʷˠˤ˞↓↑→↗↘'" "\u0329" "'ᵻ"  # the second apostrophe overrides the first
)

SYMBOLS: str = _PAD + _PUNCTUATION + _LETTERS + _LETTERS_IPA
VOCAB: dict[str, int] = {symbol: index for index, symbol in enumerate(SYMBOLS)}

assert len(SYMBOLS) == 178
