"""G2Ps are built once per version and language in a process: a backend built again reuses them, so no
new copy of espeak's library is written to the temp folder (phonemizer writes one per instance)."""
import tempfile
from pathlib import Path
from types import SimpleNamespace

from api.src.builds.v0_19 import SPEC as V0_19
from api.src.builds.v1_0 import SPEC as V1_0
from api.src.inference.backend import KokoroBackend


def espeak_copies() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("tmp*/libespeak*"))


def backend(spec) -> KokoroBackend:
    return KokoroBackend(spec, SimpleNamespace(context_length=512), {"vocab": {}}, voices=None, device="cpu")


def test_a_rebuilt_backend_reuses_the_g2p_and_its_espeak_copy():
    for spec in (V1_0, V0_19):
        first = backend(spec).g2p("a")
        first("Hello there.")
        copies = espeak_copies()
        again = backend(spec).g2p("a")
        assert again is first
        again("Hello there.")
        assert espeak_copies() == copies, spec.version
    assert backend(V1_0).g2p("b") is not backend(V1_0).g2p("a")       # one per language
    assert backend(V0_19).g2p("a") is not backend(V1_0).g2p("a")      # and per version
