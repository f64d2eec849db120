"""What one Kokoro model generation is, as data: where its files live and how its weights are laid out.

The network class is the same for every generation (the `kokoro` package's KModel); a `VersionSpec`
carries what differs around it. Its G2P lives beside it in the version's own package.
"""
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

# What both versions' networks produce: 24 kHz mono, one duration frame = 600 samples (25 ms).
SAMPLE_RATE = 24_000
SAMPLES_PER_FRAME = 600


def read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@dataclass(frozen=True)
class RemoteFile:
    """A file of the version's Hugging Face repository, with what we know to check it by."""

    path: str                      # inside the repo (and, below the version's folder, on disk)
    size: Optional[int] = None
    sha256: Optional[str] = None


@dataclass(frozen=True)
class VersionSpec:
    """One model generation: its ids, its files and its voice-pack rule."""

    version: str                   # "v1_0": also the folder name under MODEL_DIR
    model_id: str                  # the request `model` value that names it ("kokoro-v1_0")
    repo_id: str                   # Hugging Face repository
    repo_folder: str               # folder inside the repository ("" for the root)
    weights_file: str
    voice_rows: int                # rows of a voice pack: one style per phoneme count
    wrapper_key: Optional[str]     # key the five parts sit under in the weights file, if any
    voice_row: Callable[[int], int]  # number of phoneme tokens (no BOS/EOS) -> pack row
    load_config: Callable[[Path], Mapping[str, Any]]  # config.json path -> KModel config (with vocab)
    make_g2p: Callable[[str], Any]   # language code -> G2P (core.phonemes.G2P)
    normalize_lang: Callable[[str], str]  # user's lang_code or a voice's first letter -> language code
    remote_files: tuple[RemoteFile, ...] = field(default=())

    def folder(self, model_dir: Path) -> Path:
        return Path(model_dir) / self.version

    def config_path(self, model_dir: Path) -> Path:
        return self.folder(model_dir) / "config.json"

    def weights_path(self, model_dir: Path) -> Path:
        return self.folder(model_dir) / self.weights_file

    def voices_dir(self, model_dir: Path) -> Path:
        """The version's own voice packs (read-only to the server)."""
        return self.folder(model_dir) / "voices"

    def saved_voices_dir(self, model_dir: Path) -> Path:
        """Packs users saved through /v1/audio/voices/combine (created on the first save)."""
        return self.folder(model_dir) / "voices_saved"

    def missing_files(self, model_dir: Path) -> list[Path]:
        """Files the server cannot start this version without (at least one voice pack among them)."""
        missing = [p for p in (self.config_path(model_dir), self.weights_path(model_dir)) if not p.is_file()]
        voices = self.voices_dir(model_dir)
        if not voices.is_dir() or not any(voices.glob("*.pt")):
            missing.append(voices / "*.pt")
        return missing


_g2ps: dict[tuple[str, str], Any] = {}
_g2ps_lock = threading.Lock()


def shared_g2p(spec: VersionSpec, lang: str) -> Any:
    """The process's one G2P for ``spec``'s version and language ``lang``, built on first use.

    A build is slow (spaCy, espeak) and every espeak-backed one loads a private copy of espeak's library
    from a new temp folder (phonemizer keeps each instance's global espeak state apart, so en-us and
    en-gb cannot share one). Backends built again in the same process (after a failure, an idle unload,
    another manager) reuse these, so the copies stay one set per language; phonemizer deletes them
    when the process exits. G2Ps serialize their own calls.
    """
    with _g2ps_lock:
        key = (spec.version, lang)
        if key not in _g2ps:
            _g2ps[key] = spec.make_g2p(lang)
        return _g2ps[key]
