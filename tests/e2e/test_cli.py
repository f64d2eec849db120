"""``python -m api`` (``kokoro-server``) as a user runs it: ``--help``, flags over the environment."""
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.audio import decode
from tests.support.paths import REPO_ROOT
from tests.support.server import ServerProcess, free_port

FLAGS = ("--host", "--port", "--workers", "--model-dir", "--device", "--engine", "--wyoming-port")


def test_help_lists_the_flags_and_starts_nothing(tmp_path):
    began = time.monotonic()
    # a PORT that could not be bound and an empty MODEL_DIR: a start would fail, --help must not start
    done = subprocess.run([sys.executable, "-m", "api", "--help"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "MODEL_DIR": str(tmp_path), "PORT": "1"})
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - began < 10
    for flag in FLAGS:
        assert flag in done.stdout
    assert "cannot start" not in done.stderr + done.stdout


def test_an_unknown_flag_is_refused(tmp_path):
    done = subprocess.run([sys.executable, "-m", "api", "--no-such-flag"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "MODEL_DIR": str(tmp_path)})
    assert done.returncode == 2 and "--no-such-flag" in done.stderr


def test_a_bad_engine_stops_the_start_with_the_choices(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MODEL_DIR": str(tmp_path), "ENGINE": "onnx-int9"}
    done = subprocess.run([sys.executable, "-m", "api"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 2, done.stderr
    assert "cannot start: setting ENGINE='onnx-int9'" in done.stderr
    assert "'auto', 'torch-fp32' or 'torch-bf16'" in done.stderr and "Traceback" not in done.stderr
    flag = subprocess.run([sys.executable, "-m", "api", "--engine", "onnx-int9"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, env=env)
    assert flag.returncode == 2 and "torch-bf16" in flag.stderr


@pytest.mark.parametrize("keys", [",", " , ,", " "])
def test_api_keys_that_hold_no_key_stop_the_start(tmp_path, keys):
    """API_KEYS="," used to leave no key, which switched authentication off without a word."""
    env = {"PATH": "/usr/bin:/bin", "MODEL_DIR": str(tmp_path), "API_KEYS": keys}
    done = subprocess.run([sys.executable, "-m", "api"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 2, done.stderr
    assert f"cannot start: setting API_KEYS={keys!r}" in done.stderr and "holds no key" in done.stderr
    assert "Traceback" not in done.stderr


def test_api_keys_that_hold_no_key_stop_create_app(tmp_path):
    """``uvicorn api.src.main:app`` builds its settings in create_app: the same refusal stops it."""
    done = subprocess.run([sys.executable, "-c", "from api.src.main import app"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "MODEL_DIR": str(tmp_path), "API_KEYS": ","})
    assert done.returncode != 0 and "holds no key" in done.stderr


def test_flags_beat_the_environment_and_the_log_names_what_was_bound(model_dir, tmp_path):
    """--port 0 while PORT says otherwise: the log gives the port actually bound, the device, the model
    versions and a web UI URL a browser can open; the server answers there."""
    env_port = free_port()
    proc = ServerProcess(tmp_path / "no-models-here", tmp_path / "server.log", host="0.0.0.0", port=env_port)
    proc._log = open(proc.log_path, "wb")
    proc.proc = subprocess.Popen([sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", "0",
                                  "--model-dir", str(model_dir), "--device", "cpu", "--workers", "1",
                                  "--engine", "torch-bf16"],
                                 cwd=REPO_ROOT, env=proc.env, stdout=proc._log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "web UI: " not in proc.log() and proc.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.25)
        log = proc.log()
        match = re.search(r"web UI: http://127\.0\.0\.1:(\d+)/web/", log)
        assert match, log
        port = int(match.group(1))
        assert port not in (0, env_port)
        assert f"ready: http://127.0.0.1:{port} (device cpu)" in log
        assert "model versions: v1_0 ready, v0_19 on disk (built on first use)" in log
        proc.url = f"http://127.0.0.1:{port}"
        assert "engine: torch-bf16 (set by ENGINE" in log
        proc.wait_ready(30)
        assert httpx.get(proc.url + "/web/").status_code == 200
        assert httpx.get(proc.url + "/health").json()["engine"] == "torch-bf16"
        speech = httpx.post(proc.url + "/v1/audio/speech", timeout=60,
                            json={"input": "Hello there.", "voice": "af_heart", "response_format": "wav"})
        assert speech.status_code == 200 and decode(speech.content, "wav").duration > 0.2
    finally:
        proc.stop()


def test_offline_with_no_weights_fails_fast_naming_files_folder_and_variables(tmp_path):
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "api", "--port", "0"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "MODEL_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1",
                                           "DOWNLOAD_MODEL": "true", "HOME": str(tmp_path)})
    assert time.monotonic() - began < 5
    assert done.returncode == 1
    for text in ("config.json", "kokoro-v1_0.pth", f"Put them in {tmp_path / 'v1_0'}", "HF_HUB_OFFLINE=1",
                 "HF_ENDPOINT"):
        assert text in done.stderr, done.stderr
