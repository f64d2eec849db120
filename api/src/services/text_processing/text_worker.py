"""The child side of ``text_work.TextWorkers``: one process that runs text work for the server.

The server starts it as ``python -c 'from ...text_worker import main; main(FD)'`` with FD one end of
a socket pair (not through ``multiprocessing``, whose spawn re-runs the parent's main script).
``serve(conn)`` reads ``(op, args)`` from its end of a pipe and answers ``("ok", result)`` or
``("error", exception)``, one call at a time, until the pipe closes (the server exited or gave it
up). The ops are the text path's slow, GIL-holding steps, the same functions the server would call
in-process, so their results are the same:

- ``load(version, lang)``: build the version's G2P for ``lang`` (``builds.base.shared_g2p``), raising
  what building it raises (a language whose extra is missing: ``InvalidRequest``);
- ``g2p(version, lang, text)``: that G2P's tokens for one sentence;
- ``normalize(text, options)``: ``normalizer.normalize_text`` of a ``MappedText``.

This module imports only the text path (no torch), so a worker starts in about a second plus its
first G2P build.
"""
import pickle
import signal
from multiprocessing.connection import Connection
from typing import Any, Callable

from ...builds import VERSIONS
from ...builds.base import shared_g2p
from ...core.phonemes import PhonemeToken
from ...structures.normalization import NormalizationOptions
from .mapped_text import MappedText
from .normalizer import normalize_text


def load(version: str, lang: str) -> None:
    shared_g2p(VERSIONS[version], lang)


def g2p(version: str, lang: str, text: str) -> list[PhonemeToken]:
    tokens: list[PhonemeToken] = shared_g2p(VERSIONS[version], lang)(text)
    return tokens


def normalize(text: MappedText, options: NormalizationOptions) -> MappedText:
    return normalize_text(text, options)


OPS: dict[str, Callable[..., Any]] = {"load": load, "g2p": g2p, "normalize": normalize}


def _portable(exc: BaseException) -> BaseException:
    """``exc`` when it survives a pickle round trip, else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"text work failed: {type(exc).__name__}: {exc}")


def serve(conn: Any) -> None:   # a multiprocessing Connection
    """Answer calls on ``conn`` until it closes; see the module docstring."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the server's to handle; it ends us
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("ok", OPS[op](*args))
        except Exception as exc:
            answer = ("error", _portable(exc))
        try:
            conn.send(answer)
        except OSError:   # the server gave up on this call (or exited): nobody to answer
            return


def main(fd: int) -> None:
    serve(Connection(fd))
