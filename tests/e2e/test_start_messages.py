"""What the server tells people, checked as they meet it: the address it really listens on, whichever way
it was started; a taken port; a version whose files are missing (clients get the file names and the
command, never a server path: those go to the log); empty input."""
import re
import socket
import subprocess
import sys

import httpx
import pytest

from tests.support.http_calls import assert_envelope
from tests.support.paths import REPO_ROOT
from tests.support.server import AppServer, ServerProcess


@pytest.fixture(scope="module")
def v1_only(v1_model_dir):
    """v1.0 on disk, v0.19 not."""
    proc = AppServer(v1_model_dir, model_free=True).start()
    yield proc
    proc.stop()


def test_a_missing_version_names_its_files_and_the_command_but_no_path(v1_only, v1_model_dir):
    r = httpx.post(v1_only.url + "/v1/audio/speech", timeout=60,
                   json={"input": "Hello.", "voice": "af_heart", "model": "kokoro-v0_19", "response_format": "pcm"})
    error = assert_envelope(r, 503, words=("v0_19", "config.json", "kokoro-v0_19.pth", "voices/*.pt",
                                           "`kokoro-download --version v0_19`"))
    health = httpx.get(v1_only.url + "/health").text
    assert "missing config.json" in health
    for answer in (error["message"], health):
        assert str(v1_model_dir) not in answer and "/tmp" not in answer
    assert str(v1_model_dir / "v0_19" / "config.json") in v1_only.log()   # the operator still gets the path


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_and_whitespace_input_get_one_message(v1_only, text):
    r = httpx.post(v1_only.url + "/v1/audio/speech", json={"input": text, "voice": "af_heart"}, timeout=60)
    error = assert_envelope(r, 400, "input")
    assert (error["code"], error["message"]) == ("empty_input", "input is empty")


def test_uvicorn_cli_logs_the_address_it_bound(model_dir, tmp_path):
    """README's `uvicorn api.src.main:app --port 8895`: PORT is unset (8880 by default), the log names 8895's stand-in.
    (`--factory`: tests/e2e/test_audio_responses.py::test_the_app_factory_serves checks the same lines.)"""
    proc = ServerProcess(model_dir, tmp_path / "server.log").start()
    try:
        log = proc.log()
        assert f"ready: http://127.0.0.1:{proc.port} (device" in log, log
        assert f"web UI: http://127.0.0.1:{proc.port}/web/" in log
        assert ":8880" not in log
    finally:
        proc.stop()


def test_a_taken_port_is_named_with_the_flag_to_choose_another(model_dir):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port),
                               "--model-dir", str(model_dir)], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(model_dir)})
    assert done.returncode == 1, done.stderr
    assert f"cannot start: 127.0.0.1:{port} is already in use" in done.stderr
    assert re.search(r"--port \d+", done.stderr) and "Traceback" not in done.stderr
