"""Finished speech files kept for a while in one folder, so a response can point at its own download.

``DownloadStore`` has one job: keep files under ``folder`` and hand them back by name.

- ``reserve(fmt)`` names a new file (``speech_<32 hex>.<fmt>``, unguessable) and returns a
  ``PendingDownload``. Its bytes go to a hidden partial file; ``commit()`` renames it into place, so a
  name is either absent or a complete file, never half a file. A WAV file gets its true RIFF and data
  sizes at commit (the response may have been streamed with "unknown" sizes; the file is complete).
- ``open(name)`` returns the finished file, or None for anything else: names outside the strict
  pattern (so no separators, no ``..``, no absolute paths), partial files, symlinks, non-files.
- ``cleanup()`` deletes finished files older than ``max_age_s``, then the oldest until the folder holds
  at most ``max_bytes`` (the file just committed is kept even if it alone is larger), and partial files
  that nobody wrote to for ``max_age_s``. It runs after each commit and every ``interval_s`` on a
  daemon thread started on first use. It only ever deletes names of its own pattern, so pointing
  TEMP_FILE_DIR at a shared folder deletes nothing else.

Everything is on disk, nothing in memory, so several worker processes can share one folder. All
methods are thread-safe.

``tee_audio`` / ``tee_sse`` wrap a response body so that it is written to a pending download as it is
sent: the encoded bytes themselves, or for SSE the audio decoded from its delta events.
"""
import base64
import json
import os
import re
import stat
import threading
import time
from pathlib import Path
from typing import AsyncGenerator, BinaryIO, Optional

import anyio
from loguru import logger

from .audio.writer import CONTENT_TYPES, wav_size_fields

_NAME = re.compile(r"speech_[0-9a-f]{32}\.(?:" + "|".join(CONTENT_TYPES) + ")")
_PARTIAL = re.compile(r"\.(" + _NAME.pattern + r")\.partial")


class UnsafeFolder(Exception):
    """TEMP_FILE_DIR cannot be trusted with download files (a configuration problem: the server stops)."""


class PendingDownload:
    """One file being written: ``write`` the bytes, then ``commit`` (publish) or ``abort`` (discard).

    The partial file is created on the first write, in a folder made again if it was deleted (checked
    private, as at start-up). A disk error is logged once and turns the rest into no-ops: the response
    carries on, only its link stays 404.
    """

    def __init__(self, store: "DownloadStore", name: str):
        self.store = store
        self.name = name
        self._partial = store.folder / f".{name}.partial"
        self._file: Optional[BinaryIO] = None
        self._failed = False
        self._done = False

    def write(self, data: bytes) -> None:
        if self._failed or self._done:
            return
        try:
            if self._file is None:
                self.store.start()
                self.store.check_folder()   # made again if deleted since (and still ours, still private)
                # "x": exclusive create, which also refuses to follow a planted symlink.
                self._file = open(self._partial, "xb")
            self._file.write(data)
        except (OSError, UnsafeFolder) as exc:
            self._fail(exc)

    def commit(self) -> bool:
        """Publish the file under its name; True when it is there to download."""
        if self._done:
            return False
        if self._file is None:
            self.write(b"")   # no bytes at all (empty pcm) is still a finished, empty file
        self._done = True
        if self._failed or self._file is None:   # no file only when it failed to open
            return False
        try:
            if self.name.endswith(".wav"):
                self._set_wav_sizes(self._file)
            self._file.close()
            self.store.publish(self._partial, self.name)
            return True
        except OSError as exc:
            self._fail(exc)
            return False

    @staticmethod
    def _set_wav_sizes(file: BinaryIO) -> None:
        for offset, field in wav_size_fields(file.tell()):
            file.seek(offset)
            file.write(field)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._discard()

    def _fail(self, exc: Exception) -> None:
        if not self._failed:
            logger.warning("download file {} not kept: {}", self.name, exc)
        self._failed = True
        self._discard()

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
        try:
            self._partial.unlink(missing_ok=True)
        except OSError:
            pass   # the folder itself is unusable: there is no partial to remove


class DownloadStore:
    """See the module docstring."""

    def __init__(self, folder: Path, max_bytes: int, max_age_s: float, *, interval_s: Optional[float] = None):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        # Often enough that the folder never holds much more than the age allows.
        self.interval_s = interval_s if interval_s is not None else max(1.0, min(60.0, max_age_s / 4))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._janitor: Optional[threading.Thread] = None

    @staticmethod
    def is_name(name: str) -> bool:
        return bool(_NAME.fullmatch(name))

    @staticmethod
    def media_type(name: str) -> str:
        return CONTENT_TYPES[name.rsplit(".", 1)[1]]

    def reserve(self, fmt: str) -> PendingDownload:
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"unknown audio format {fmt!r}")
        return PendingDownload(self, f"speech_{os.urandom(16).hex()}.{fmt}")

    def check_folder(self) -> None:
        """Create the folder private (0700), or refuse one that is not: owned by another user, or writable
        by others (they could plant or swap files that responses link to). Raises UnsafeFolder."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            info = os.stat(self.folder)
        except OSError as exc:
            raise UnsafeFolder(f"TEMP_FILE_DIR {self.folder} cannot be used: {exc}") from exc
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UnsafeFolder(
                f"TEMP_FILE_DIR {self.folder} is owned by another user or writable by others "
                f"(mode {stat.filemode(info.st_mode)}); set TEMP_FILE_DIR to a folder only this user can write")

    def start(self) -> None:
        """Create the folder and start the periodic cleanup (idempotent; called on first use)."""
        with self._lock:
            if self._janitor is not None:
                return
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._janitor = threading.Thread(target=self._run_janitor, name="download-cleanup", daemon=True)
            self._janitor.start()

    def close(self) -> None:
        """Stop the periodic cleanup (the app's shutdown calls this); files already published stay."""
        self._stop.set()
        if self._janitor is not None:
            self._janitor.join(timeout=5)

    def publish(self, partial: Path, name: str) -> None:
        with self._lock:
            os.replace(partial, self.folder / name)
            self._cleanup(keep=name)

    def open(self, name: str) -> Optional[tuple[BinaryIO, int]]:
        """The finished file ``name`` opened for reading and its size, or None (see the module docstring)."""
        if not self.is_name(name):
            return None
        try:
            self.start()
            # O_NONBLOCK: opening a FIFO someone planted would otherwise wait for a writer forever
            fd = os.open(self.folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info.st_size

    def cleanup(self) -> list[str]:
        """Delete what is too old or over the size budget; return the names deleted."""
        with self._lock:
            return self._cleanup(keep=None)

    def _cleanup(self, keep: Optional[str]) -> list[str]:
        now = time.time()
        finished: list[tuple[float, str, int]] = []   # (mtime, name, size)
        deleted: list[str] = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:   # not made yet, or unusable (writes report that)
            return deleted
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue   # another process cleaned it
            if not stat.S_ISREG(info.st_mode):
                continue
            if _NAME.fullmatch(entry.name):
                if now - info.st_mtime > self.max_age_s and entry.name != keep:
                    self._delete(entry.name, deleted)
                else:
                    finished.append((info.st_mtime, entry.name, info.st_size))
            elif _PARTIAL.fullmatch(entry.name) and now - info.st_mtime > self.max_age_s:
                self._delete(entry.name, deleted)   # a writer that died without aborting
        finished.sort()
        total = sum(size for _, _, size in finished)
        for _, name, size in finished:
            if total <= self.max_bytes:
                break
            if name != keep:
                self._delete(name, deleted)
                total -= size
        return deleted

    def _delete(self, name: str, deleted: list[str]) -> None:
        try:
            (self.folder / name).unlink()
            deleted.append(name)
        except FileNotFoundError:
            pass

    def _run_janitor(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.cleanup()
            except Exception as exc:   # a bad folder must not kill the thread for good
                logger.warning("download cleanup failed: {}", exc)


async def tee_audio(body: AsyncGenerator[bytes, None], pending: PendingDownload) -> AsyncGenerator[bytes, None]:
    """Yield ``body`` unchanged while writing it to ``pending``; publish it once the body is complete.

    Published before the last byte leaves (the response ends only when this generator does), so a
    client that has the whole body finds the link live. A body that fails or is abandoned leaves
    nothing behind.
    """
    try:
        async for data in body:
            pending.write(data)
            yield data
        await anyio.to_thread.run_sync(pending.commit)   # cleanup scans the folder: off the event loop
    finally:
        pending.abort()   # no-op after a commit
        await body.aclose()   # the inner body (its encoder) is freed now, not when it is collected


async def tee_sse(events: AsyncGenerator[bytes, None], pending: PendingDownload) -> AsyncGenerator[bytes, None]:
    """Like ``tee_audio`` for OpenAI's SSE: the file gets the audio of the delta events, and is
    published when the ``speech.audio.done`` event arrives, before it is passed on; an ``error`` event
    discards it."""
    buffer = b""
    try:
        async for data in events:
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                kind = _record(event, pending)
                if kind == "speech.audio.done":
                    await anyio.to_thread.run_sync(pending.commit)
                elif kind == "error":
                    pending.abort()
            yield data
    finally:
        pending.abort()
        await events.aclose()


def _record(event: bytes, pending: PendingDownload) -> Optional[str]:
    """Write a delta event's audio; return the event's type."""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            payload = json.loads(line[5:])
            if payload.get("type") == "speech.audio.delta":
                pending.write(base64.b64decode(payload["audio"]))
            return payload.get("type")
    return None
