"""v1.0's English G2P costs time linear in its input, whatever the input: misaki reads a whitespace-free
run by trying every span of its subtokens (cubic in their count), so long runs are cut first."""
import threading
import time

import pytest

from api.src.builds.v1_0.g2p import MAX_WORD_SUBTOKENS, cut_long_words

HOSTILE = {"letter-digit": "a1", "camel": "Ab", "hyphens": "a-", "underscores": "x_", "mixed": "aB1-"}
PROSE = "The keeper climbed the stairs of the old lighthouse and lit the lamp. "


@pytest.fixture(scope="module")
def misaki():
    from misaki import en

    from api.src.builds.v1_0.g2p import make_g2p
    g2p = make_g2p("a")
    g2p("warm up")
    return g2p, en.subtokenize


def test_real_words_are_left_whole(misaki):
    _, subtokenize = misaki
    text = "A state-of-the-art mother-in-law's COVID-19 test, e.g. U.S.A. 1,234,567.89 don't."
    assert cut_long_words(text, subtokenize) == text


@pytest.mark.parametrize("unit", sorted(HOSTILE.values()))
def test_long_runs_are_cut_without_losing_a_character(misaki, unit):
    _, subtokenize = misaki
    text = f"say {unit * 300} now"
    cut = cut_long_words(text, subtokenize)
    assert cut.replace(" ", "") == text.replace(" ", "")
    assert max(len(subtokenize(run)) for run in cut.split()) <= MAX_WORD_SUBTOKENS


def _seconds(g2p, text: str, limit: float) -> float:
    """Time ``g2p(text)``; fail (rather than hang) when it takes longer than ``limit``."""
    took = []
    worker = threading.Thread(target=lambda: took.append(g2p(text)), daemon=True)
    began = time.perf_counter()
    worker.start()
    worker.join(limit)
    assert took, f"G2P of {len(text)} characters ({text[:12]!r}...) took more than {limit:.0f} s"
    return time.perf_counter() - began


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_runs_cost_about_what_prose_costs(misaki, name):
    g2p, _ = misaki
    size = 1000      # before the cut: 250 characters of "a1" took 22 s, 500 took 150 s
    prose = _seconds(g2p, (PROSE * 20)[:size], 120)
    limit = max(20.0, 25 * prose)
    assert _seconds(g2p, (HOSTILE[name] * size)[:size], limit) < limit


@pytest.mark.parametrize("name", ["letter-digit", "hyphens"])
def test_hostile_runs_cost_linear_time(misaki, name):
    g2p, _ = misaki
    unit, size = HOSTILE[name], 1000
    short = _seconds(g2p, (unit * size)[:size], 60)
    longer = _seconds(g2p, (unit * size * 10)[:size * 10], max(60.0, 40 * short))
    assert longer < max(2.0, 40 * short), (short, longer)     # ten times the text: ~10x, not ~1000x
