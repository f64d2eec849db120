"""The server under test, two ways: ``ServerProcess`` (uvicorn in a child process, as a user starts it)
and ``AppServer`` (``create_app(Settings(...))`` served by uvicorn in a thread of this process).

Both listen on a loopback port and expose ``url`` and ``port``, so a test talks to either over a real
socket with the same HTTP code. ``AppServer`` skips what every child process pays again (importing
torch and spaCy); use ``ServerProcess`` where the behaviour belongs to a process: signals, the CLI,
several workers, start-up failures (the lifespan exits the process), logs, and settings that change
process-wide state. The benches (bench/overhead.py and the benches that import it) start their servers
with ``ServerProcess`` too.
"""
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import httpx

from tests.support.paths import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the server child before exec: SIGTERM it if we die
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class ServerProcess:
    """``uvicorn api.src.main:app`` (or another app spec, e.g. the factory) in a child process, as a user
    would start it. Keyword settings become the child's environment (upper-cased) over ``DEFAULT_ENV``
    and this process's; the child gets SIGTERM if this process dies."""

    DEFAULT_ENV = {"LOG_LEVEL": "INFO", "TORCH_THREADS": "2"}
    NEW_SESSION = False   # True: the child in a session of its own (a terminal's Ctrl-C does not reach it)

    def __init__(self, model_dir: Path, log_path: Path, *, app: str = "api.src.main:app",
                 uvicorn_args: tuple[str, ...] = (), bind_port: Optional[int] = None, model_free: bool = False,
                 **settings):
        """``model_free``: the app built by ``tests.support.model_free:app`` (versions without a network)."""
        if model_free:
            app, uvicorn_args = "tests.support.model_free:app", ("--factory", *uvicorn_args)
        self.port = bind_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, "MODEL_DIR": str(model_dir), **self.DEFAULT_ENV,
                    **{k.upper(): str(v) for k, v in settings.items()}}
        self.app, self.uvicorn_args = app, tuple(uvicorn_args)
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", self.app, *self.uvicorn_args, "--host", "127.0.0.1",
                "--port", str(self.port)]

    def start(self, wait: bool = True, timeout: float = 120) -> "ServerProcess":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), cwd=REPO_ROOT, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=self.NEW_SESSION, preexec_fn=_die_with_parent)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._log:
            self._log.close()


THREAD_PREFIX = "app-server-"
_real_exit = os._exit


def _exit_in_process(code: int) -> None:
    """``os._exit`` that ends only an in-process server: the lifespan hard-exits on a configuration
    problem, which must fail that server's start, not end the test run."""
    if threading.current_thread().name.startswith(THREAD_PREFIX):
        raise SystemExit(code)
    _real_exit(code)


class _LogLines:
    """The log lines of the in-process servers that are running, in the server's own text format.

    loguru is process-wide and every ``create_app`` replaces its handlers, so one sink is put back
    after each start and appends each line to every running ``AppServer``: servers alive at the same
    time share their log (a test module's servers; fixtures of one module are gone before the next).
    """
    FORMAT = "{time:HH:mm:ss.SSS} | {level: <7} | {extra[request_id]} | {message}"
    running: list["AppServer"] = []

    @classmethod
    def install(cls) -> None:
        from loguru import logger

        logger.add(cls._write, level="INFO", format=cls.FORMAT, colorize=False)

    @classmethod
    def _write(cls, message) -> None:
        for server in list(cls.running):
            server.log_lines.append(str(message).rstrip("\n"))


class AppServer:
    """``create_app(Settings(model_dir=..., **settings))`` served by uvicorn on a loopback port, in a
    thread of this process, with the app's lifespan (model check, inference worker, warm-up).

    Settings come from the keywords only (not from a `.env` file), over the environment as a child
    process would see it. Not for start-up failures: the lifespan ends the whole process on a
    configuration error. ``log()`` holds what the app logged at INFO and above (shared with the other
    in-process servers running meanwhile, see ``_LogLines``); JSON logs need a ``ServerProcess``, and so
    do signals (not installed off the main thread).
    """

    def __init__(self, model_dir: Path, *, model_free: bool = False, **settings):
        """``model_free``: each version built without its network (``tests.support.model_free``)."""
        from api.src.core.config import Settings

        self.model_free = model_free
        self.settings = Settings(_env_file=None, model_dir=model_dir, **{"torch_threads": 2, **settings})
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = None
        self.log_lines: list[str] = []
        self._server = None
        self._thread: Optional[threading.Thread] = None

    def start(self, timeout: float = 120) -> "AppServer":
        import uvicorn

        from api.src.main import create_app

        os._exit = _exit_in_process
        builder = None
        if self.model_free:
            from tests.support.model_free import build_model_free_backend
            builder = build_model_free_backend
        self.app = create_app(self.settings, backend_builder=builder)
        _LogLines.running.append(self)
        _LogLines.install()
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"{THREAD_PREFIX}{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"in-process server stopped during start-up:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"in-process server not ready after {timeout:.0f}s")
            time.sleep(0.02)
        return self

    def log(self) -> str:
        return "\n".join(self.log_lines)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        self._sock.close()
        if self in _LogLines.running:
            _LogLines.running.remove(self)
