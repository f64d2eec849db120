"""Voice packs of one model version: listing, loading, OpenAI names, and weighted mixes.

A pack is a float32 tensor ``[rows, 1, 256]``: one style vector per input length. A mix
``af_bella(2)+af_sky(1)`` is the weighted mean of its packs; a ``-`` term subtracts its pack scaled by
its weight (``a-b(0.3)`` = a - 0.3 b). Weights are normalized by the sum of the added terms.
"""
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from ..core.errors import InvalidRequest

OPENAI_VOICES_FILE = Path(__file__).resolve().parents[1] / "core" / "openai_voices.json"

_TERM = re.compile(r"\s*([+-]?)\s*([A-Za-z0-9_]{1,64})\s*(?:\(\s*([0-9]*\.?[0-9]+)\s*\))?\s*")
_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_MIX_TERMS = 16


@dataclass(frozen=True)
class MixTerm:
    name: str
    weight: float  # negative for subtraction


def parse_mix(spec: str) -> list[MixTerm]:
    """Parse ``a``, ``a+b``, ``a(2)+b(1)``, ``a-b(0.5)``; raise InvalidRequest on anything else."""
    spec = spec.strip()
    if not spec:
        raise InvalidRequest("voice is empty", param="voice", code="invalid_voice")
    terms, pos = [], 0
    while pos < len(spec):
        match = _TERM.match(spec, pos)
        if not match or match.end() == pos or (terms and not match.group(1)) or (not terms and match.group(1) == "-"):
            raise InvalidRequest(
                f"cannot parse voice {spec!r}: use a name, or a mix like 'af_bella(2)+af_sky(1)'",
                param="voice", code="invalid_voice")
        sign = -1.0 if match.group(1) == "-" else 1.0
        weight = float(match.group(3)) if match.group(3) else 1.0
        if weight <= 0:
            raise InvalidRequest(f"voice weight must be positive in {spec!r}", param="voice", code="invalid_voice")
        terms.append(MixTerm(match.group(2), sign * weight))
        pos = match.end()
        if len(terms) > MAX_MIX_TERMS:
            raise InvalidRequest(f"a mix may have at most {MAX_MIX_TERMS} voices", param="voice", code="invalid_voice")
    if sum(t.weight for t in terms if t.weight > 0) <= 0:
        raise InvalidRequest(f"voice {spec!r} adds no voice", param="voice", code="invalid_voice")
    return terms


def load_openai_voice_map(version: str) -> dict[str, str]:
    with open(OPENAI_VOICES_FILE, encoding="utf-8") as f:
        return dict(json.load(f).get(version, {}))


class VoiceLibrary:
    """The voice packs in one folder, loaded on demand and kept (mixes in a small LRU)."""

    def __init__(self, folder: Path, rows: int, openai_names: Optional[dict[str, str]] = None, mix_cache_size: int = 64):
        self.folder = Path(folder)
        self.rows = rows
        self.openai_names = openai_names or {}
        self._packs: dict[str, torch.Tensor] = {}
        self._mixes: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._mix_cache_size = mix_cache_size
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.pt") if _NAME.match(p.stem))

    def _unknown(self, name: str) -> InvalidRequest:
        return InvalidRequest(
            f"voice {name!r} not found. Available voices: {', '.join(self.names())}. "
            f"OpenAI names: {', '.join(sorted(self.openai_names))}",
            param="voice", code="voice_not_found")

    def pack(self, name: str) -> torch.Tensor:
        with self._lock:
            if name in self._packs:
                return self._packs[name]
        path = self.folder / f"{name}.pt"
        if not _NAME.match(name) or not path.is_file():
            raise self._unknown(name)
        pack = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(pack, torch.Tensor) or pack.shape[-1] != 256 or pack.numel() != self.rows * 256:
            raise InvalidRequest(f"voice pack {name!r} is not a [{self.rows}, 1, 256] tensor", param="voice",
                                 code="invalid_voice")
        pack = pack.detach().to(torch.float32).reshape(self.rows, 1, 256).contiguous()
        with self._lock:
            self._packs[name] = pack
        return pack

    def resolve(self, spec: str) -> tuple[str, torch.Tensor]:
        """Return the canonical mix string and its pack for a name, an OpenAI name or a mix."""
        spec = spec.strip()
        terms = parse_mix(self.openai_names.get(spec, spec))
        terms = [MixTerm(self.openai_names.get(t.name, t.name), t.weight) for t in terms]
        key = tuple((t.name, t.weight) for t in terms)
        canonical = "+".join(f"{t.name}({t.weight:g})" for t in terms).replace("+-", "-")
        if len(terms) == 1:
            return terms[0].name, self.pack(terms[0].name)
        with self._lock:
            if key in self._mixes:
                self._mixes.move_to_end(key)
                return canonical, self._mixes[key]
        packs = [self.pack(t.name) for t in terms]
        total = sum(t.weight for t in terms if t.weight > 0)
        mixed = sum(p * (t.weight / total) for p, t in zip(packs, terms))
        with self._lock:
            self._mixes[key] = mixed
            while len(self._mixes) > self._mix_cache_size:
                self._mixes.popitem(last=False)
        return canonical, mixed

    def primary_name(self, spec: str) -> str:
        """The first voice of a spec: its prefix picks the language."""
        terms = parse_mix(self.openai_names.get(spec.strip(), spec.strip()))
        return self.openai_names.get(terms[0].name, terms[0].name)
