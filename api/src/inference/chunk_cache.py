"""An in-memory LRU of finished chunks, so repeated text is spoken without running the model again.

Keyed by everything that decides a chunk's audio: model version, phonemes, the voice pack's content,
speed, and the chunk's noise seed (None for requests that did not ask for a seed: any earlier
unseeded rendering is as good as a new one). Bounded by the bytes of audio it holds.
"""
import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import Hashable, Optional

import torch

from .backend import ChunkOutput

# By object id, dropped when the pack is freed (tensors compare element-wise: no WeakKeyDictionary).
_fingerprints: dict[int, str] = {}
_fingerprint_lock = threading.Lock()


def pack_fingerprint(pack: torch.Tensor) -> str:
    """A digest of a voice pack's values (packs are immutable once loaded: computed once each)."""
    with _fingerprint_lock:
        known = _fingerprints.get(id(pack))
    if known is None:
        known = hashlib.blake2b(pack.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()
        with _fingerprint_lock:
            _fingerprints[id(pack)] = known
        weakref.finalize(pack, _fingerprints.pop, id(pack), None)
    return known


def _size(output: ChunkOutput) -> int:
    return output.audio.nbytes + output.pred_dur.nbytes


class ChunkCache:
    """Thread-safe LRU of ``ChunkOutput`` by key, holding at most ``max_bytes`` of arrays (0: off)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, ChunkOutput] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(version: str, phonemes: str, pack: torch.Tensor, speed: float, seed: Optional[int]) -> Hashable:
        return version, phonemes, pack_fingerprint(pack), round(speed, 6), seed

    def get(self, key: Hashable) -> Optional[ChunkOutput]:
        if not self.max_bytes:
            return None
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, output: ChunkOutput) -> None:
        size = _size(output)
        if not self.max_bytes or size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= _size(old)
            self._items[key] = output
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= _size(evicted)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
