"""Fetch a model version's files from Hugging Face into `MODEL_DIR/<version>/`.

Each file is downloaded into a temporary folder inside the destination folder (same filesystem),
checked against the size and SHA-256 in the version's spec where they are known, and only then
moved into place with `os.replace`: an interrupted or corrupt download never leaves a file that
looks complete. Files under the spec's `repo_folder` land without that prefix.

CLI: python -m api.src.inference.fetch_weights [--version v1_0] [--model-dir DIR] [--voices a,b] [--force]
(installed as `kokoro-download`).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from huggingface_hub import constants as hf_constants, hf_hub_download, list_repo_files, utils as hf_utils

from ..builds import VERSIONS
from ..builds.base import RemoteFile, VersionSpec


class DownloadError(RuntimeError):
    """A download did not give the files the spec asks for (a mismatch, absent files), or was not allowed."""


class MissingModelFiles(RuntimeError):
    """A version cannot start: some of its files are absent (and were not, or could not be, downloaded)."""

    def __init__(
        self,
        spec: VersionSpec,
        missing: Sequence[Path],
        cause: Optional[BaseException] = None,
        model_dir: Optional[Path] = None,
    ):
        self.spec = spec
        self.missing = list(missing)
        self.cause = cause
        lines = [f"Kokoro {spec.version} ({spec.model_id}) is missing files:"]
        lines += [f"  - {path}" for path in self.missing]
        if cause is not None:
            lines.append(f"Downloading them failed: {type(cause).__name__}: {cause}")
        where = f" --model-dir {model_dir}" if model_dir is not None else ""
        if model_dir is not None:
            lines.append(f"Put them in {spec.folder(Path(model_dir))} (MODEL_DIR/{spec.version}/), as listed above.")
            if is_version_folder(Path(model_dir)):
                lines.append(f"MODEL_DIR {model_dir} looks like a version folder itself: set MODEL_DIR to the "
                             f"folder that holds it ({Path(model_dir).parent}), which holds v1_0/ and v0_19/.")
        # a cause means the download was tried (DOWNLOAD_MODEL=true): do not advise setting it again
        fetch = f"Fetch them with `{fetch_command(spec.version)}{where}`"
        lines.append(f"{fetch} (from https://huggingface.co/{spec.repo_id})." if cause is not None else
                     f"{fetch}, or start the server with DOWNLOAD_MODEL=true to fetch them at start-up "
                     f"(from https://huggingface.co/{spec.repo_id}).")
        if cause is not None:
            lines.append(
                "Without internet: copy the files there and set HF_HUB_OFFLINE=1 (no download is tried: a "
                "missing file fails at once); behind a firewall, HF_ENDPOINT=https://<mirror> downloads "
                "from a Hugging Face mirror."
            )
        super().__init__("\n".join(lines))


def fetch_command(version: str) -> str:
    """The one command every message names for fetching a version's files (the installed entry point)."""
    return f"kokoro-download --version {version}"


def is_version_folder(model_dir: Path) -> bool:
    """MODEL_DIR set to a version's own folder (``.../v1_0``, or a folder holding config.json) instead of
    the folder that holds the versions."""
    return model_dir.name in VERSIONS or (model_dir / "config.json").is_file()


def _repo_prefix(spec: VersionSpec) -> str:
    return f"{spec.repo_folder.strip('/')}/" if spec.repo_folder.strip("/") else ""


def _local_rel(spec: VersionSpec, path: str) -> str:
    """A repo path (with or without the spec's folder) -> the path below `MODEL_DIR/<version>/`."""
    prefix = _repo_prefix(spec)
    return path[len(prefix):] if prefix and path.startswith(prefix) else path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(file: RemoteFile, path: Path) -> None:
    size = path.stat().st_size
    if file.size is not None and size != file.size:
        raise DownloadError(f"{file.path}: downloaded {size} bytes, expected {file.size}")
    if file.sha256 is not None:
        digest = _sha256(path)
        if digest != file.sha256.lower():
            raise DownloadError(f"{file.path}: SHA-256 {digest}, expected {file.sha256}")


def _voice_files(spec: VersionSpec, voices: Optional[Sequence[str]]) -> list[RemoteFile]:
    """The voice packs to fetch: the named ones, or every `voices/*.pt` the repository lists."""
    prefix = _repo_prefix(spec) + "voices/"
    if voices is None:
        listed = list_repo_files(spec.repo_id)
        names = [p[len(prefix):] for p in listed if p.startswith(prefix) and p.endswith(".pt")]
        names = [n for n in names if "/" not in n]
    else:
        names = [v if v.endswith(".pt") else f"{v}.pt" for v in voices]
    return [RemoteFile(f"voices/{name}") for name in sorted(names)]


def download_version(
    spec: VersionSpec,
    model_dir: Path,
    *,
    voices: Optional[list[str]] = None,
    force: bool = False,
) -> list[Path]:
    """Download the spec's files (config, weights, voice packs) and return the paths it wrote.

    `voices`: names (`af_heart` or `af_heart.pt`); None = every voice pack in the repository.
    Files already in place are skipped unless `force`. Raises DownloadError on a size/hash mismatch
    (nothing is left in place for that file), or huggingface_hub's errors when the hub fails.
    """
    folder = spec.folder(Path(model_dir))
    folder.mkdir(parents=True, exist_ok=True)
    files = [RemoteFile(_local_rel(spec, f.path), f.size, f.sha256) for f in spec.remote_files]
    files += _voice_files(spec, voices)
    if hf_utils.are_progress_bars_disabled() and not os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS"):
        hf_utils.enable_progress_bars()  # someone turned them off in-process; a download wants them

    written = []
    for file in files:
        dest = folder / file.path
        if dest.is_file() and not force:
            print(f"[{spec.version}] {file.path}: present, skipped", flush=True)
            continue
        print(f"[{spec.version}] {file.path}: downloading from {spec.repo_id}", flush=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
        try:
            got = Path(hf_hub_download(
                repo_id=spec.repo_id, filename=_repo_prefix(spec) + file.path, local_dir=tmp,
            ))
            _verify(file, got)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(got, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        written.append(dest)
    return written


def ensure_version_files(spec: VersionSpec, model_dir: Path, *, download: bool) -> None:
    """Return when the version's files are in place; otherwise download them (if `download`) or raise.

    Raises MissingModelFiles naming every missing file, their folder and the command that fetches them; a
    failed download (network, hub, hash mismatch) becomes MissingModelFiles with the failure as its cause.
    With HF_HUB_OFFLINE=1 no download is tried: it raises at once.
    """
    missing = spec.missing_files(Path(model_dir))
    if not missing:
        return
    if not download:
        raise MissingModelFiles(spec, missing, model_dir=model_dir)
    if hf_constants.HF_HUB_OFFLINE:   # the hub client would refuse anyway; no retries, no waiting
        raise MissingModelFiles(spec, missing, DownloadError("HF_HUB_OFFLINE=1 is set, so nothing was downloaded"),
                                model_dir)
    try:
        download_version(spec, Path(model_dir))
    except Exception as exc:  # noqa: BLE001 - any failure leaves the version unable to start
        raise MissingModelFiles(spec, spec.missing_files(Path(model_dir)) or missing, exc, model_dir) from exc
    still = spec.missing_files(Path(model_dir))
    if still:
        raise MissingModelFiles(spec, still, DownloadError("the repository did not provide them"), model_dir)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Download a Kokoro model version from Hugging Face.")
    parser.add_argument("--version", default="v1_0", choices=sorted(VERSIONS))
    parser.add_argument("--model-dir", type=Path, help="default: MODEL_DIR from the server settings")
    parser.add_argument("--voices", help="comma-separated voice names (default: every voice pack)")
    parser.add_argument("--force", action="store_true", help="download files that are already present")
    args = parser.parse_args(argv)

    if args.model_dir is None:   # this CLI is a composition root of its own: it reads the settings itself
        from ..core.config import Settings

        args.model_dir = Settings().model_dir
    voices = [v.strip() for v in args.voices.split(",") if v.strip()] if args.voices else None
    spec = VERSIONS[args.version]
    try:
        written = download_version(spec, args.model_dir, voices=voices, force=args.force)
    except Exception as exc:  # noqa: BLE001 - report any failure as one line and a non-zero status
        print(f"download failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{len(written)} file(s) downloaded into {spec.folder(args.model_dir)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
