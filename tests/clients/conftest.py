"""The real voice-agent clients (pipecat, livekit-agents) against the real server.

These tests run in their own virtualenv, ``.venv-clients`` (``scripts/install-clients.sh``), never in the
server's: the clients pin packages that may clash with it. The server still runs with the server's
python, in a child process: ``KOKORO_SERVER_PYTHON``, default ``.venv/bin/python`` (the server's venv
made by ``scripts/install.sh``). Run them with

    .venv-clients/bin/python -m pytest --clients tests/clients

(``scripts/test.sh`` does, after the main suite; a plain ``pytest`` leaves this folder out).
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.models import TEST_VOICES
from tests.support.paths import REPO_ROOT
from tests.support.server import ServerProcess

SERVER_PYTHON = Path(os.environ.get("KOKORO_SERVER_PYTHON") or REPO_ROOT / ".venv" / "bin" / "python")
OPENAI_VOICES = json.loads((REPO_ROOT / "api/src/core/openai_voices.json").read_text())
SAMPLE_RATE = 24000


class ClientsServer(ServerProcess):
    """``ServerProcess`` started with the server's python rather than this (clients) one."""

    def command(self) -> list[str]:
        return [str(SERVER_PYTHON), *super().command()[1:]]


@pytest.fixture(scope="session")
def clients_model_dir(tmp_path_factory) -> Path:
    """A tiny random v1.0 model whose voice packs cover every OpenAI name's mapping (openai_voices.json),
    written by the server's python (this venv has no torch)."""
    if not SERVER_PYTHON.exists():
        pytest.fail(f"no server python at {SERVER_PYTHON}: run scripts/install.sh (or set KOKORO_SERVER_PYTHON)")
    voices = sorted(set(TEST_VOICES) | {v for v in OPENAI_VOICES["v1_0"].values() if "+" not in v})
    root = tmp_path_factory.mktemp("clients-models")
    subprocess.run([str(SERVER_PYTHON), "-m", "api.src.tools.random_model", "--out", str(root), "--version", "v1_0",
                    "--size", "tiny", "--voices", ",".join(voices), "--seed", "1"],
                   cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    return root


@pytest.fixture(scope="session")
def kokoro(clients_model_dir, tmp_path_factory):
    """The server, model-free (real text path, scheduler and encoders; tones instead of a forward)."""
    proc = ClientsServer(clients_model_dir, tmp_path_factory.mktemp("logs") / "server.log",
                         model_free=True).start()
    yield proc
    proc.stop()
