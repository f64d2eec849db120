"""Text as people write it (issue 14): markdown from chat models, URLs and e-mail addresses as people say
them, ISO dates and times. Each case: what the normalizer makes of it, its switch, the map back to the
input, and linear time on adversarial input."""
import re
import time

import pytest

from api.src.services.text_processing.mapped_text import MappedText
from api.src.services.text_processing.normalizer import normalize_text
from api.src.services.text_processing.normalizer.markdown import strip_markdown
from api.src.structures.normalization import NormalizationOptions


def norm(text: str, options: NormalizationOptions = NormalizationOptions()) -> str:
    return normalize_text(MappedText.of(text), options).text


def check(cases, options=NormalizationOptions()):
    for given, expected in cases:
        assert norm(given, options) == expected, given


def test_markdown_blocks_lose_their_markers_and_end_a_sentence():
    check([
        ("# Heading\nSome text.", "Heading.\nSome text."),
        ("## Sub ##\n", "Sub.\n"),
        ("### Done!", "Done!"),
        ("# Learn C#", "Learn C hash."),
        ("- item one\n- item two.\n* star\n+ plus", "item one.\nitem two.\nstar.\nplus."),
        ("1. first\n2) second\n  10. nested", "first.\nsecond.\nnested."),
        ("> quoted line\n> > more", "quoted line\nmore"),
        ("> - quoted item\n> next", "quoted item.\nnext"),
        ("Para.\n---\n***\n___\nNext", "Para.\nNext"),
        ("Title\n=====\nText", "Title\nText"),
        ("| Name | Age |\n|---|:---:|\n| Ann | 30 |", "Name, Age.\nAnn, thirty."),
        ("```python\nprint(x)\n```\nAfter.", "\nprint(x)\n\nAfter."),
        ("~~~\nraw\n~~~", "\nraw\n"),
    ])


def test_markdown_inline_markup_reads_the_words():
    check([
        ("**bold** and *em* and _em_ and __strong__ and ***both*** and ~~strike~~",
         "bold and em and em and strong and both and strike"),
        ("see [the docs](https://example.com/docs \"Docs\") here", "see the docs here"),
        ("![a cat](cat.png) and ![](x.png).", "a cat and ."),
        ("use `pip install` now", "use pip install now"),
    ])


def test_markdown_leaves_ordinary_text_alone():
    check([
        ("5 * 3 = 15", "five times three equals fifteen"),
        ("2*4", "two times four"),
        ("C# code", "C hash code"),
        ("#1 fan", "number one fan"),
        ("#python is fun", "hash python is fun"),
        ("snake_case_name", "snake case name"),
        ("a - b", "a - b"),
        ("a*b*c", "a b c"),
        (":-) ;-) :D", ":-) ;-) :D"),
        ("** not bold **", " not bold "),
        ("1990. A good year.", "nineteen ninety. A good year."),
    ])


def test_markdown_switch():
    off = NormalizationOptions(markdown=False)
    assert norm("# Heading", off) == "hash Heading"
    assert norm("**bold** [text](https://x.com)", off) == "bold [text](x dot com)"
    assert norm("# Heading", NormalizationOptions(normalize=False)) == "# Heading"


def test_markdown_words_keep_their_place_in_the_input():
    source = "## Getting **started**\n- Read [the guide](https://x.com/g)"
    out = normalize_text(MappedText.of(source))
    assert out.text == "Getting started.\nRead the guide."
    for word in ("Getting", "started", "Read", "the", "guide"):
        at = out.text.index(word)
        a, b = out.span(at, at + len(word))
        assert source[a:b] == word


N = 200_000
ADVERSARIAL = {
    "stars": " *a" * (N // 3),
    "star words": ("*" + "a" * 400 + " ") * (N // 402),
    "underscores": " _a" * (N // 3),
    "tildes": "~~a " * (N // 4),
    "brackets": "[a](" * (N // 4),
    "images": "![" * (N // 2),
    "backticks": "`a " * (N // 3),
    "heading lines": "# a\n" * (N // 4),
    "hashes and spaces": "# " + "#  " * (N // 3),
    "pipes": "|" * N,
    "table lines": "| a | b |\n" * (N // 10),
    "quotes": ">" * N,
    "dash lines": "- - -\n" * (N // 6),
    "fences": "```\n" * (N // 4),
    "markdown prose": "# Title\n- **bold** *em* [link](https://x.com) `code`\n| a | b |\n" * (N // 60),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_markdown_is_linear(name):
    text = MappedText.of(ADVERSARIAL[name])
    started = time.perf_counter()
    out = normalize_text(text)
    assert time.perf_counter() - started < 2.0, name
    assert len(out.starts) == len(out.text)


def test_strip_markdown_without_markup_is_identity():
    text = MappedText.of("Plain words, nothing else.")
    assert strip_markdown(text) is text


def test_a_list_marker_needs_a_line_break():
    check([
        ("* note this", " note this"),  # not a list: the symbol rule drops the star
        ("1. is the loneliest number", "one. is the loneliest number"),
        ("- item\nnext", "item.\nnext"),
        ("intro\n- item", "intro\nitem."),
        ("# Heading", "Heading."),
    ])


def test_urls_and_emails_read_as_people_say_them():
    check([
        ("https://example.com/docs", "example dot com slash docs"),
        ("Go to https://www.example.com/docs/ now.", "Go to example dot com slash docs now."),
        ("ftp://files.example.org/pub", "files dot example dot org slash pub"),
        ("www.x.io", "x dot io"),
        ("https://github.com/owner/repo#readme", "github dot com slash owner slash repo hash readme"),
        ("user@example.org", "user at example dot org"),
        ("Mail first.last+news@mail.example.co.uk!", "Mail first dot last plus news at mail dot example dot co dot uk!"),
        ("meet @ 5", "meet at five"),
        ("ask @alice or @bob_smith", "ask at alice or at bob smith"),
    ])
    assert norm("https://www.example.com/", NormalizationOptions(url_normalization=False)) == "https://www.example.com/"


def test_iso_dates_and_times():
    check([
        ("2026-12-04", "December fourth, twenty twenty-six"),
        ("On 2026-12-04, we ship.", "On December fourth, twenty twenty-six, we ship."),
        ("2024-01-15; ok", "January fifteenth, twenty twenty-four; ok"),
        ("2026-12-04T14:30", "December fourth, twenty twenty-six at fourteen thirty"),
        ("2026-12-04 14:30", "December fourth, twenty twenty-six at fourteen thirty"),
        ("2026-12-04T14:30:05Z", "December fourth, twenty twenty-six at fourteen thirty and five seconds U T C"),
        ("2026-12-04T09:05+02:00", "December fourth, twenty twenty-six at nine oh five U T C plus two"),
        ("2026-12-04T14:30:05.123-05:30",
         "December fourth, twenty twenty-six at fourteen thirty and five seconds U T C minus five thirty"),
        ("14:30:05", "fourteen thirty and five seconds"),
        ("at 14:30Z.", "at fourteen thirty U T C."),
    ])


def test_iso_dates_leave_other_number_rules_alone():
    check([
        ("1990-1995", "nineteen ninety to nineteen ninety-five"),
        ("555-1234", "five five five, one two three four"),
        ("1-800-555-1234", "one, eight zero zero, five five five, one two three four"),
        ("3:30pm", "three thirty P M"),
        ("12:05 AM", "twelve oh five A M"),
    ])
    assert not norm("2026-02-30").startswith("February")   # not a date: not read as one
    assert not norm("2026-13-01").startswith("December")


def test_iso_date_maps_to_what_the_user_wrote():
    source = "Due 2026-12-04T14:30 sharp"
    out = normalize_text(MappedText.of(source))
    for m in re.finditer(r"\S+", out.text):
        a, b = out.span(m.start(), m.end())
        assert source[a:b] in ("Due", "2026-12-04T14:30", "sharp"), m.group()
