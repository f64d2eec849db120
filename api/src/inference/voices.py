"""Voice packs of one model version: listing, loading, OpenAI names, and weighted mixes.

A pack is a float32 tensor ``[rows, 1, 256]``: one style vector per input length. A mix
``af_bella(2)+af_sky(1)`` is the weighted mean of its packs; a ``-`` term subtracts its pack scaled by
its weight (``a-b(0.3)`` = a - 0.3 b). Weights are normalized by the sum of the added terms, unless the
library is made with ``normalize_weights=False`` (then ``a(0.5)`` is half a pack). Either way no pack is
scaled by more than ``MAX_MIX_WEIGHT`` (``a(0.000001)-b(100)`` would scale b by 10^8: noise, or silence).
"""
import json
import math
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from loguru import logger

from ..core.exceptions import Conflict, InvalidRequest, quote

OPENAI_VOICES_FILE = Path(__file__).resolve().parents[1] / "core" / "openai_voices.json"

_TERM = re.compile(r"\s*([+-]?)\s*([A-Za-z0-9_]{1,64})\s*"   # sign, name
                   r"(?:\(\s*((?:[0-9]++(?:\.[0-9]++)?|\.[0-9]++)(?:[eE][+-]?+[0-9]++)?)\s*\))?\s*")   # (weight)
_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
MAX_MIX_TERMS = 16
MIX_CACHE_SIZE = 64     # mixed packs kept per version (an LRU: a mix is cheap to rebuild)
# Above this a weight is a typo, not a mix: un-normalized it would scale the style into noise.
MAX_MIX_WEIGHT = 100.0


def is_voice_name(name: str) -> bool:
    """A plain voice name: ``[A-Za-z0-9_]{1,64}``, nothing else (no path separators, no dots)."""
    return bool(_NAME.fullmatch(name))


@dataclass(frozen=True)
class MixTerm:
    name: str
    weight: float  # negative for subtraction


def parse_mix(spec: str) -> list[MixTerm]:
    """Parse ``a``, ``a+b``, ``a(2)+b(1)``, ``a-b(0.5)``; raise InvalidRequest on anything else."""
    spec = spec.strip()
    if not spec:
        raise InvalidRequest("voice is empty", param="voice", code="invalid_voice")
    terms: list[MixTerm] = []
    pos = 0
    while pos < len(spec):
        match = _TERM.match(spec, pos)
        if not match or match.end() == pos or (terms and not match.group(1)) or (not terms and match.group(1)):
            raise InvalidRequest(
                f"cannot parse voice {quote(spec)}: use a name, or a mix like 'af_bella(2)+af_sky(1)'",
                param="voice", code="invalid_voice")
        sign = -1.0 if match.group(1) == "-" else 1.0
        weight = float(match.group(3)) if match.group(3) else 1.0
        if not (0 < weight <= MAX_MIX_WEIGHT) or not math.isfinite(weight):
            raise InvalidRequest(f"voice weight must be above 0 and at most {MAX_MIX_WEIGHT:g} in {quote(spec)}",
                                 param="voice", code="invalid_voice")
        terms.append(MixTerm(match.group(2), sign * weight))
        pos = match.end()
        if len(terms) > MAX_MIX_TERMS:
            raise InvalidRequest(f"a mix may have at most {MAX_MIX_TERMS} voices", param="voice", code="invalid_voice")
    if sum(t.weight for t in terms if t.weight > 0) <= 0:
        raise InvalidRequest(f"voice {quote(spec)} adds no voice", param="voice", code="invalid_voice")
    return terms


def mix_weights(terms: list[MixTerm], normalize: bool, spec: str) -> tuple[float, ...]:
    """The factor each term's pack is multiplied by: its weight, divided by the added weights' sum when
    ``normalize``. InvalidRequest when one passes ``MAX_MIX_WEIGHT`` (a subtraction far heavier than what
    is added: ``a(1e-45)-b(100)`` overflowed float32, ``a(0.000001)-b(100)`` spoke silence)."""
    total = sum(t.weight for t in terms if t.weight > 0) if normalize else 1.0
    factors = tuple(t.weight / total for t in terms)
    heaviest = max(abs(f) for f in factors)
    if heaviest > MAX_MIX_WEIGHT:
        raise InvalidRequest(
            f"voice {quote(spec)} weighs a voice {heaviest:.3g} times once its weights are divided by the added "
            f"ones' sum ({total:g}); at most {MAX_MIX_WEIGHT:g}: subtract less than {MAX_MIX_WEIGHT:g} times what "
            "you add", param="voice", code="invalid_voice")
    return factors


def float32_copy(pack: torch.Tensor) -> torch.Tensor:
    """A float32 copy of ``pack`` that owns its memory, made by numpy: callers run on pool threads, where
    torch's copy of 130k values would start an OpenMP team (see torch_threads)."""
    return torch.from_numpy(np.array(pack.detach().cpu().numpy(), dtype=np.float32, order="C"))


def format_weight(weight: float) -> str:
    """A weight as ``parse_mix`` reads it back to the same float: plain decimals, no exponent
    (``1e-05`` -> ``0.00001``), the shortest digits that round-trip (``2.0`` -> ``2``)."""
    return np.format_float_positional(weight, trim="-")


def format_mix(terms: list[MixTerm]) -> str:
    """The canonical spelling of a mix, ``a(2)+b(1)-c(0.5)``: what ``parse_mix`` turns back into ``terms``."""
    return "".join(f"{'-' if t.weight < 0 else '+' if i else ''}{t.name}({format_weight(abs(t.weight))})"
                   for i, t in enumerate(terms))


def _read_voice_map(path: Path) -> dict[str, dict[str, str]]:
    """``{version: {OpenAI name: voice or mix}}`` from a JSON file (keys starting with ``_`` are comments);
    ValueError saying what is wrong with anything else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"OPENAI_VOICE_MAP {path} cannot be read as a JSON object: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"OPENAI_VOICE_MAP {path} must be a JSON object {{version: {{name: voice}}}}")
    maps: dict[str, dict[str, str]] = {}
    for version, names in data.items():
        if version.startswith("_"):
            continue
        if not isinstance(names, dict):
            raise ValueError(f"OPENAI_VOICE_MAP {path}: {version!r} must map OpenAI names to voices")
        for name, voice in names.items():
            try:
                if not (_NAME.fullmatch(name) and isinstance(voice, str)):
                    raise InvalidRequest("expected a plain name mapped to a voice or mix")
                parse_mix(voice)
            except InvalidRequest as exc:
                raise ValueError(f"OPENAI_VOICE_MAP {path}: {version}.{name}: {exc.message}") from exc
        maps[version] = dict(names)
    return maps


def load_openai_voice_map(version: str, override: Optional[Path] = None) -> dict[str, str]:
    """OpenAI voice name -> Kokoro voice or mix for ``version``: the packaged ``openai_voices.json``, with
    the entries ``override`` (OPENAI_VOICE_MAP, a file of the same shape) gives for that version in place
    of its own. A malformed override raises ValueError saying what is wrong (the server does not start)."""
    names = _read_voice_map(OPENAI_VOICES_FILE).get(version, {})
    if override is not None:
        names = {**names, **_read_voice_map(override).get(version, {})}
    return names


def list_voice_names(folder: Path, saved_folder: Path) -> list[str]:
    """The voices of one version from its files alone (built-in and saved packs), sorted; nothing is loaded
    or opened. Only regular files count (a symlink to one too): no FIFO, device, directory or broken link."""
    return sorted({p.stem for f in (folder, saved_folder) for p in Path(f).glob("*.pt")
                   if _NAME.fullmatch(p.stem) and p.is_file()})


class VoiceLibrary:
    """The voice packs of one version, loaded on demand and kept (mixes in a small LRU).

    Built-in packs live in ``folder`` and are read-only; ``save`` writes to ``saved_folder`` (created on
    first save) under a name no built-in voice has, so later requests (and ``names()``) see it.
    """

    def __init__(self, folder: Path, rows: int, openai_names: Optional[dict[str, str]] = None,
                 normalize_weights: bool = True, saved_folder: Optional[Path] = None):
        self.folder = Path(folder)
        self.saved_folder = Path(saved_folder) if saved_folder else self.folder.with_name("voices_saved")
        self.rows = rows
        self.openai_names = openai_names or {}
        self.normalize_weights = normalize_weights
        self._packs: dict[str, torch.Tensor] = {}
        self._mixes: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list_voice_names(self.folder, self.saved_folder)

    def is_builtin(self, name: str) -> bool:
        return bool(_NAME.fullmatch(name)) and (self.folder / f"{name}.pt").is_file()

    def _path(self, name: str) -> Optional[Path]:
        """Where the pack ``name`` is: built-in first (a saved pack can never shadow one), else saved."""
        if not _NAME.fullmatch(name):
            return None
        for folder in (self.folder, self.saved_folder):
            if (folder / f"{name}.pt").is_file():
                return folder / f"{name}.pt"
        return None

    def _parse(self, spec: str) -> list[MixTerm]:
        """parse_mix, with the voices this library has in the error (the user is looking for a name)."""
        try:
            return parse_mix(spec)
        except InvalidRequest as exc:
            raise InvalidRequest(f"{exc.message}. Available voices: {', '.join(self.names())}",
                                 param=exc.param, code=exc.code) from exc

    def _unknown(self, name: str) -> InvalidRequest:
        return InvalidRequest(
            f"voice {quote(name)} not found. Available voices: {', '.join(self.names())}. "
            f"OpenAI names: {', '.join(sorted(self.openai_names))}",
            param="voice", code="voice_not_found")

    def _damaged(self, name: str, path: Path, why: str) -> InvalidRequest:
        logger.warning("voice pack {} cannot be used: {}", path, why)
        return InvalidRequest(f"voice {quote(name)} cannot be used: its pack {why}; choose another voice",
                              param="voice", code="invalid_voice")

    def _load(self, name: str, path: Path) -> torch.Tensor:
        """The pack in ``path`` as float32 ``[rows, 1, 256]``; a file that cannot be read (corrupt or cut
        short), holds something else, or holds values that are not finite is an InvalidRequest naming
        the voice (the path goes to the log only)."""
        try:
            pack = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:   # whatever a damaged file makes the unpickler raise
            raise self._damaged(name, path, f"file is corrupt or truncated ({type(exc).__name__})") from None
        if not isinstance(pack, torch.Tensor) or pack.shape[-1] != 256 or pack.numel() != self.rows * 256:
            raise InvalidRequest(f"voice pack {quote(name)} is not a [{self.rows}, 1, 256] tensor", param="voice",
                                 code="invalid_voice")
        pack = pack.detach().to(torch.float32).reshape(self.rows, 1, 256).contiguous()
        if not np.isfinite(pack.numpy()).all():
            raise self._damaged(name, path, "holds values that are not finite numbers")
        return pack

    def pack(self, name: str) -> torch.Tensor:
        with self._lock:
            if name in self._packs:
                return self._packs[name]
        path = self._path(name)
        if path is None:
            raise self._unknown(name)
        pack = self._load(name, path)
        with self._lock:
            self._packs[name] = pack
        return pack

    def _terms(self, spec: str) -> list[MixTerm]:
        """A spec's terms, OpenAI names (of the whole spec or a term) replaced by the voices they stand for."""
        terms = self._parse(self.openai_names.get(spec, spec))
        return [MixTerm(self.openai_names.get(t.name, t.name), t.weight) for t in terms]

    def identity(self, spec: str) -> tuple[tuple[str, float], ...]:
        """What pack a spec stands for: each voice with the factor its pack is multiplied by. Two specs of
        one identity (``a(2)+b(1)``, ``a(4)+b(2)``, ``a+b(0.5)``) share one pack; InvalidRequest for a spec
        that cannot be parsed or whose weights pass ``MAX_MIX_WEIGHT`` (see ``mix_weights``)."""
        spec = spec.strip()
        terms = self._terms(spec)
        if len(terms) == 1 and (self.normalize_weights or terms[0].weight == 1.0):
            return ((terms[0].name, 1.0),)
        return tuple(zip((t.name for t in terms), mix_weights(terms, self.normalize_weights, spec), strict=True))

    def resolve(self, spec: str) -> tuple[str, torch.Tensor]:
        """Return the canonical mix string and its pack for a name, an OpenAI name or a mix."""
        spec = spec.strip()
        terms = self._terms(spec)
        key = self.identity(spec)
        if len(key) == 1 and key[0][1] == 1.0:
            return key[0][0], self.pack(key[0][0])
        # Re-parseable (the language is read back from it): a subtraction is "-name(w)", not "+name(-w)".
        canonical = format_mix(terms)
        with self._lock:
            if key in self._mixes:
                self._mixes.move_to_end(key)
                return canonical, self._mixes[key]
        packs = [self.pack(name) for name, _ in key]
        # numpy, not torch: this runs on a pool thread, where torch would start an OpenMP team of its
        # own for the pack's 130k values and slow the inference thread down (see torch_threads)
        mixed = torch.from_numpy(sum(p.numpy() * np.float32(factor)
                                     for p, (_, factor) in zip(packs, key, strict=True)))
        with self._lock:
            self._mixes[key] = mixed
            while len(self._mixes) > MIX_CACHE_SIZE:
                self._mixes.popitem(last=False)
        return canonical, mixed

    def primary_name(self, spec: str) -> str:
        """The first voice of a spec: its prefix picks the language."""
        terms = self._parse(self.openai_names.get(spec.strip(), spec.strip()))
        return self.openai_names.get(terms[0].name, terms[0].name)

    def save(self, name: str, pack: torch.Tensor, *, overwrite: bool = False) -> Path:
        """Store ``pack`` as ``<folder>/<name>.pt`` and return its path.

        ``name`` must be a plain voice name (else InvalidRequest) that is no OpenAI name (those would
        hide it); an existing voice is replaced only with ``overwrite`` (else Conflict, 409). The file
        appears whole or not at all (written beside, then renamed), and cached mixes using the old
        pack are dropped.
        """
        if not is_voice_name(name):
            raise InvalidRequest(f"voice name {quote(name)} must be 1-64 letters, digits or underscores",
                                 param="name", code="invalid_voice_name")
        if name in self.openai_names:
            raise InvalidRequest(f"{quote(name)} is an OpenAI voice name here "
                                 f"(it maps to {self.openai_names[name]!r}); choose another name",
                                 param="name", code="invalid_voice_name")
        if pack.shape != (self.rows, 1, 256):
            raise InvalidRequest(f"a voice pack here is [{self.rows}, 1, 256], not {list(pack.shape)}", param="voices",
                                 code="invalid_voice")
        if self.is_builtin(name):
            raise Conflict(f"voice {name!r} is built in, and built-in voices are read-only; choose another name",
                           param="name", code="voice_read_only")
        self.saved_folder.mkdir(parents=True, exist_ok=True)
        path = self.saved_folder / f"{name}.pt"
        exists = Conflict(f"voice {name!r} already exists; send overwrite: true to replace it", param="name",
                          code="voice_exists")
        if path.exists() and not overwrite:
            raise exists
        partial = self.saved_folder / f".{name}.{os.getpid()}.{threading.get_ident()}.partial"
        try:
            torch.save(float32_copy(pack), partial)
            if overwrite:
                os.replace(partial, path)
            else:
                try:  # link, unlike rename, refuses an existing target: two savers cannot both win
                    os.link(partial, path)
                except FileExistsError:
                    raise exists from None
        finally:
            partial.unlink(missing_ok=True)
        with self._lock:
            self._packs.pop(name, None)
            for key in [k for k in self._mixes if any(term == name for term, _ in k)]:
                del self._mixes[key]
        return path
