"""A test backend for FAULT_INJECTION=true: chunks that carry a fault marker fail, or kill the worker.

``[[fault:chunk]]`` in a request's input makes the chunk that holds it raise (its request fails, no
other); ``[[fault:worker]]`` makes it raise ``InjectedWorkerCrash``, a ``BaseException`` that escapes
the worker's per-chunk error handling, so the inference thread dies and the scheduler restarts it.
Never enable it in production.

The marker text goes through G2P like any other text and reaches the backend only as phoneme ids, so a
chunk carries a marker when its ids hold the ids of the marker as this version's G2P spells it for the
chunk's language (computed once per language, the first time ``g2p`` hands that language out). The
G2P itself is untouched: chunking, phonemes and ids are those of a server without fault injection.
The app selects this class through ``ModelManager``'s builder (``build_faulty_backend``).
"""
import threading
from typing import Optional, Sequence

from ..builds.base import VersionSpec
from ..core.config import Settings
from ..core.phonemes import G2P, join_phonemes
from .backend import ChunkOutput, KokoroBackend
from .forward import BatchItem
from .model_manager import build_backend

# Checked in this order within one chunk; across a batch a worker kill wins.
MARKERS = {"chunk": "[[fault:chunk]]", "worker": "[[fault:worker]]"}


class InjectedWorkerCrash(BaseException):
    """Kills the inference thread on purpose (not an Exception: the worker does not catch it)."""


def _holds(ids: Sequence[int], part: Sequence[int]) -> bool:
    """Whether ``part`` occurs in ``ids`` as a contiguous run."""
    n = len(part)
    return any(list(ids[i:i + n]) == list(part) for i in range(len(ids) - n + 1))


class FaultInjectingBackend(KokoroBackend):
    """A ``KokoroBackend`` that fails the chunks carrying a marker; see the module docstring."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._markers: dict[str, list[tuple[str, list[int]]]] = {}   # lang -> (kind, marker ids)
        self._markers_lock = threading.Lock()

    def g2p(self, lang: str) -> G2P:
        g2p = super().g2p(lang)
        with self._markers_lock:
            if lang not in self._markers:
                spelled = [(kind, self.token_ids(join_phonemes(g2p(text)))) for kind, text in MARKERS.items()]
                self._markers[lang] = [(kind, ids) for kind, ids in spelled if ids]
        return g2p

    def fault(self, input_ids: Sequence[int]) -> Optional[str]:
        """The marker a chunk's ids carry ("chunk", "worker"), or None."""
        with self._markers_lock:
            markers = [m for per_lang in self._markers.values() for m in per_lang]
        for kind in MARKERS:
            if any(k == kind and _holds(input_ids, ids) for k, ids in markers):
                return kind
        return None

    def _inject(self, chunks: Sequence[Sequence[int]]) -> None:
        faults = {self.fault(ids) for ids in chunks}
        if "worker" in faults:
            raise InjectedWorkerCrash()
        if "chunk" in faults:
            raise RuntimeError("injected fault in this chunk")

    def infer_batch(self, items: Sequence[BatchItem], half: bool = False) -> list[ChunkOutput]:
        """Every chunk runs here (``infer_seeded`` is a batch of one). A batch with a failing chunk fails as
        a whole (the worker then runs its chunks one by one, so only the marked one fails); one with a
        worker-killing chunk kills the worker."""
        self._inject([item.input_ids for item in items])
        return super().infer_batch(items, half)


def build_faulty_backend(spec: VersionSpec, settings: Settings, device: str, engine: str) -> KokoroBackend:
    """``ModelManager``'s builder under FAULT_INJECTION=true: ``build_backend`` with this class."""
    return build_backend(spec, settings, device, engine, backend_class=FaultInjectingBackend)
