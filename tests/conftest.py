"""Session fixtures: random-weight models in the real on-disk layout, and the real server on loopback."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_VOICES = ("af_heart", "af_bella", "af_sky", "af_alloy", "af_nova", "af_sarah", "am_adam", "am_echo",
               "am_onyx", "bf_emma", "bm_fable", "bm_george")
V0_19_TEST_VOICES = ("af", "af_bella", "af_sarah", "af_nicole", "am_adam", "am_michael", "bf_emma", "bm_george")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``uvicorn api.src.main:app`` (or another app spec, e.g. the factory) in a child process, as a user
    would start it."""

    def __init__(self, model_dir: Path, log_path: Path, *, app: str = "api.src.main:app",
                 uvicorn_args: tuple[str, ...] = (), **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, "MODEL_DIR": str(model_dir), "LOG_LEVEL": "INFO", "TORCH_THREADS": "2",
                    **{k.upper(): str(v) for k, v in env.items()}}
        self.app, self.uvicorn_args = app, tuple(uvicorn_args)
        self.proc = None

    def start(self, wait: bool = True, timeout: float = 120) -> "ServerProcess":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", self.app, *self.uvicorn_args, "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=REPO_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()


@pytest.fixture(scope="session")
def v1_model_dir(tmp_path_factory) -> Path:
    """Tiny random v1.0 model and voice packs under MODEL_DIR/v1_0 (no other version)."""
    from api.src.tools.random_model import write_random_model

    root = tmp_path_factory.mktemp("models-v1")
    write_random_model(root, version="v1_0", size="tiny", voices=TEST_VOICES, seed=1)
    return root


@pytest.fixture(scope="session")
def model_dir(v1_model_dir, tmp_path_factory) -> Path:
    """Both versions, tiny and random, in their real layouts: MODEL_DIR/v1_0 and MODEL_DIR/v0_19."""
    from api.src.tools.random_model import write_random_model

    root = tmp_path_factory.mktemp("models")
    (root / "v1_0").symlink_to(v1_model_dir / "v1_0", target_is_directory=True)
    write_random_model(root, version="v0_19", size="tiny", voices=V0_19_TEST_VOICES, seed=2)
    return root


@pytest.fixture(scope="session")
def server(model_dir, tmp_path_factory):
    """The shared server: v1.0 by default, v0.19 preloaded beside it."""
    # 16-client tests run against it: above the default MAX_INFLIGHT_PER_WORKER of 10 (tested on its own)
    proc = ServerProcess(model_dir, tmp_path_factory.mktemp("logs") / "server.log", preload_versions="v0_19",
                         max_inflight_per_worker=64).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(server):
    from openai import OpenAI
    return OpenAI(base_url=server.url + "/v1", api_key="not-needed", max_retries=0, timeout=120)
