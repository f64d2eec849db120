"""Kokoro v0.19's front end: normalization rules, espeak-ng phonemes with v0.19's fixes, token ids."""
import time

import pytest

from api.src.builds import VERSIONS
from api.src.builds.v0_19.g2p import MAX_PIECE_CHARS, cut_pieces, fix_phonemes, make_g2p, normalize_lang
from api.src.builds.v0_19.normalize import normalize_text
from api.src.builds.v0_19.vocab import VOCAB
from api.src.core.exceptions import InvalidRequest


@pytest.mark.parametrize("text, expected", [
    ("Dr. Smith met Mr. Jones and Ms. Lee, etc.", "Doctor Smith met Mister Jones and Miss Lee, etc"),
    ("It cost $5.50 or $1 or $3 million.", "It cost 5 dollars and 50 cents or 1 dollar or 3 million dollars."),
    ("£2.01 and £1.5", "2 pounds and 1 penny and 1 pound and 50 pence"),
    ("In 1984, 1900, 1905 and the 1980s; not 2005 or 1066.",
     "In 19 84, 19 hundred, 19 oh 5 and the 19 80s; not 2005 or 1066."),
    ("At 3:00, 3:05 and 11:45.", "At 3 o'clock, 3 oh 5 and 11 45."),
    ("Pi is 3.14 and 1,000,000 is big.", "Pi is 3 point 1 4 and 1000000 is big."),
    ("Pages 10-20.", "Pages 10 to 20."),
    ("Yeah, the U.S.A. is big.", "Ye'a, the U-S-A- is big."),
    ("“Quoted” (aside)", '"Quoted" «aside»'),
    ("CJK：标点，句号。", "CJK: 标点, 句号."),
])
def test_normalization_rules(text, expected):
    assert normalize_text(text) == expected


@pytest.mark.parametrize("text", ["1" * 200_000, "1." * 100_000, "$1" * 66_000, "A." * 100_000, " " * 200_000,
                                  "a." * 100_000 + " b", "9:" * 100_000, "(" * 200_000])
def test_normalization_is_linear(text):
    began = time.perf_counter()
    normalize_text(text)
    assert time.perf_counter() - began < 2


def test_phoneme_fixes():
    assert fix_phonemes("rʲxɬ", "b") == "ɹjkl"
    assert fix_phonemes("nˈaɪnti", "a") == "nˈaɪndi"        # US only
    assert fix_phonemes("nˈaɪnti", "b") == "nˈaɪnti"
    assert fix_phonemes("wˈʌnhˈʌndɹɪd", "a") == "wˈʌn hˈʌndɹɪd"
    assert fix_phonemes("kəkˈoːɹoʊ", "a") == fix_phonemes("kəkˈɔːɹoʊ", "a") == "kˈoʊkəɹoʊ"
    assert fix_phonemes("a (b) ✓ z.", "a") == "a b z."      # symbols outside the vocab are dropped


def test_languages():
    assert normalize_lang("en-gb") == "b" and normalize_lang("a") == "a"
    with pytest.raises(InvalidRequest):
        normalize_lang("e")


# Phoneme strings from the espeak-ng that the espeakng-loader wheel pins (the one both versions use).
@pytest.mark.parametrize("lang, text, expected", [
    ("a", "Hello world!", "həlˈoʊ wˈɜːld!"),
    ("b", "Hello world!", "həlˈəʊ wˈɜːld!"),
    ("a", "It costs $5.50, not £2.01.",
     "ɪt kˈɔsts fˈaɪv dˈɑːlɚz ænd fˈɪfti sˈɛnts, nˌɑːt tˈuː pˈaʊndz ænd wˈʌn pˈɛni."),
    ("b", "It costs $5.50, not £2.01.",
     "ɪt kˈɒsts fˈaɪv dˈɒləz and fˈɪfti sˈɛnts, nˌɒt tˈuː pˈaʊndz and wˈɒn pˈɛni."),
    ("a", "We met at 3:05 in 1984.", "wiː mˈɛt æt θɹˈiː ˈoʊ fˈaɪv ɪn nˈaɪntiːn ˈeɪɾi fˈɔːɹ."),
    ("b", "We met at 3:05 in 1984.", "wiː mˈɛt at θɹˈiː ˈəʊ fˈaɪv ɪn nˈaɪntiːn ˈeɪti fˈɔː."),
    ("a", "Dr. Smith and Mr. Jones met 12 people.", "dˈɑːktɚ smˈɪθ ænd mˈɪstɚ dʒˈoʊnz mˈɛt twˈɛlv pˈiːpəl."),
    ("a", "Ninety-nine bottles.", "nˈaɪndinˈaɪn bˈɑːɾəlz."),
    ("b", "Ninety-nine bottles.", "nˈaɪntinˈaɪn bˈɒtəlz."),
    ("a", "Pi is 3.14.", "pˈaɪ ɪz θɹˈiː pˈɔɪnt wˈʌn fˈɔːɹ."),
    ("a", "Kokoro speaks.", "kˈoʊkəɹoʊ spˈiːks."),
])
def test_known_sentences(lang, text, expected):
    assert make_g2p(lang).phonemize(text) == expected


def test_token_ids_and_words():
    g2p = make_g2p("a")
    tokens = g2p("Hello world!")
    assert [t.phonemes for t in tokens] == ["həlˈoʊ", "wˈɜːld!"]
    assert [t.text for t in tokens] == ["Hello", "world!"]   # espeak kept the word count: one token a word
    # when it does not ("1984" is four spoken words), the sentence rides on the first token
    merged = g2p("In 1984 it rained.")
    assert merged[0].text == "In 1984 it rained." and all(t.text == "" for t in merged[1:])
    assert [VOCAB[s] for s in g2p.phonemize("Hello world!")] == [50, 83, 54, 156, 57, 135, 16, 65, 156, 87, 158,
                                                                  54, 46, 5]


@pytest.mark.real_weights
def test_config_conversion_of_the_real_config():
    from tests.support.references import SHARED
    path = SHARED / "models" / "v0_19" / "config.json"
    if not path.is_file():
        pytest.skip("../shared is absent")
    config = VERSIONS["v0_19"].load_config(path)
    assert config["istftnet"]["upsample_rates"] == [10, 6] and "type" not in config["istftnet"]
    assert config["plbert"]["num_hidden_layers"] == 12 and config["text_encoder_kernel_size"] == 5
    assert config["vocab"]["'"] == 176 and config["n_token"] == 178


@pytest.mark.parametrize("text", ["a " * 300 + "end", "x" * 1000, "one two  three " * 80, " lead and trail " * 40])
def test_pieces_keep_every_character_but_the_spaces_cut_at(text):
    pieces = cut_pieces(text, 100)
    assert all(0 < len(p) <= 100 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


def test_long_sentences_read_in_pieces_give_the_words_of_the_parts():
    g2p = make_g2p("a")
    sentence = "The keeper climbed the stairs of the old lighthouse and lit the lamp " * 12
    assert len(sentence) > MAX_PIECE_CHARS
    tokens = g2p(sentence)
    pieces = cut_pieces(sentence, MAX_PIECE_CHARS)
    assert len(pieces) > 1
    assert " ".join(t.phonemes for t in tokens) == " ".join(g2p.phonemize(p) for p in pieces)
    assert "".join(t.text for t in tokens).replace(" ", "") == sentence.replace(" ", "")   # no text lost
    assert all(t.whitespace == " " for t in tokens[:-1]) and tokens[-1].whitespace == ""


@pytest.mark.parametrize("unit", ["!?.,;:…—-()[]\"'", ",,, ", "[pause] "])
def test_g2p_cost_is_linear_in_the_sentence(unit):
    """One 'sentence' of hostile text (no sentence end in it): 8x the characters, at most ~8x the time
    (before pieces: 3.7x the time per character from 5k to 40k characters of punctuation)."""
    g2p = make_g2p("a")
    g2p("warm up")

    def per_char(size: int) -> float:
        text = (unit * size)[:size]
        began = time.perf_counter()
        g2p(text)
        return (time.perf_counter() - began) / size

    small, large = min(per_char(5000) for _ in range(3)), min(per_char(40_000) for _ in range(2))
    assert large < 2.0 * small, f"{large / small:.1f}x the time per character at 8x the size"
