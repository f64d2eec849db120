"""``python -m api`` (``kokoro-server``) as a user runs it: ``--help``, flags over the environment."""
import subprocess
import sys
import time

from tests.conftest import REPO_ROOT

FLAGS = ("--host", "--port", "--workers", "--model-dir", "--device", "--engine")


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
