"""README's client examples, run as written against a test server.

The fenced blocks are read out of README.md itself, so an example that drifts from the server (a renamed
field, a wrong path, a format that no longer decodes) fails here. Only the address changes
(``http://localhost:8880`` -> the test server's). Players are the one thing swapped: a stand-in ``ffplay``
on ``PATH`` keeps what it is given, so the streamed-PCM examples are checked for the audio they pipe.
The JavaScript SDK example runs when Node and the ``openai`` package are installed (tests/js); the
browser example runs in Chromium when it can play ``audio/mpeg`` through MediaSource. docs/api.md's
web-page example for the WebSocket route runs in Chromium too.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.audio import SAMPLE_RATE, decode
from tests.support.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
API_DOCS = REPO_ROOT / "docs" / "api.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
ADDRESS = "http://localhost:8880"


def blocks(language: str, must_contain: str, source: Path = README) -> list[str]:
    found = [body for lang, body in FENCE.findall(source.read_text()) if lang == language and must_contain in body]
    assert found, f"{source.name} has no {language} block with {must_contain!r}: the test looks for the wrong thing"
    return found


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder to run an example in, with a stand-in ffplay first on PATH that saves its stdin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    player = bin_dir / "ffplay"
    player.write_text(f'#!/bin/sh\ncat > "{tmp_path}/played-$$.raw"\n')
    player.chmod(player.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    return run_dir, env, tmp_path


def played(tmp_path: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(tmp_path.glob("played-*.raw"))]


def assert_speech(data: bytes, fmt: str, min_seconds: float = 0.3):
    audio = decode(data, fmt)
    assert audio.sample_rate == SAMPLE_RATE and audio.channels == 1
    assert audio.duration >= min_seconds, f"{fmt}: {audio.duration:.2f} s"
    assert float(abs(audio.samples).max()) > 0.01, f"{fmt}: silence"


def run(command: list[str], cwd: Path, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def test_quick_start_curl(server, workdir):
    run_dir, env, tmp = workdir
    (script,) = [b for b in blocks("bash", "curl ") if "/v1/audio/speech" in b]
    run(["bash", "-euo", "pipefail", "-c", script.replace(ADDRESS, server.url)], run_dir, env)
    assert_speech((run_dir / "hello.mp3").read_bytes(), "mp3")
    (pcm,) = played(tmp)
    assert_speech(pcm, "pcm")


@pytest.mark.parametrize("index", [0, 1])
def test_openai_python_sdk(server, workdir, index):
    run_dir, env, tmp = workdir
    examples = blocks("python", "from openai import OpenAI")
    assert len(examples) == 2, "README's two OpenAI SDK examples: quick start and streamed"
    source = examples[index].replace(ADDRESS, server.url)
    run([sys.executable, "-c", source], run_dir, env)
    if index == 0:
        assert_speech((run_dir / "hello.mp3").read_bytes(), "mp3")
    else:
        (pcm,) = played(tmp)
        assert_speech(pcm, "pcm", min_seconds=0.5)
        assert_speech((run_dir / "speech.opus").read_bytes(), "opus")


JS_MODULES = REPO_ROOT / "tests" / "js" / "node_modules"   # scripts/install.sh --test puts openai there


@pytest.mark.skipif(not (shutil.which("node") and (JS_MODULES / "openai").is_dir()),
                    reason="node or its openai package is missing (scripts/install.sh --test installs it with npm)")
def test_openai_js_sdk(server, workdir):
    run_dir, env, _ = workdir
    (source,) = blocks("js", "new OpenAI(")
    (run_dir / "node_modules").symlink_to(JS_MODULES)   # ES modules resolve packages from the script's folder
    script = run_dir / "speak.mjs"
    script.write_text(source.replace(ADDRESS, server.url))
    run(["node", str(script)], run_dir, env)
    assert_speech((run_dir / "hello.mp3").read_bytes(), "mp3")


@contextmanager
def server_page(server):
    """A Chromium page on the server's own origin (autoplay allowed), or a skip without chromium."""
    from tests.support.browser import chromium_path

    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True,
                                             args=["--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page()
            page.goto(server.url + "/web")
            yield page
        finally:
            browser.close()


@pytest.mark.browser
def test_browser_fetch_streams(server):
    """The web-page example in Chromium, served by the server's own origin: it must fetch, append every
    part to the SourceBuffer and end the stream without an error."""
    (source,) = blocks("js", "new MediaSource()")
    with server_page(server) as page:
        if not page.evaluate("MediaSource.isTypeSupported('audio/mpeg')"):
            pytest.skip("this Chromium cannot play audio/mpeg through MediaSource")
        page.add_script_tag(content=source.replace(ADDRESS, server.url))
        outcome = page.evaluate("""async () => {
            try { await speak("Streaming into a web page."); return "ok"; } catch (e) { return String(e); }
        }""")
    assert outcome == "ok"


def test_streamed_text_over_the_socket(server, workdir):
    run_dir, env, tmp = workdir
    (example,) = blocks("python", "websockets.connect")
    ws_address = ADDRESS.replace("http://", "ws://")
    assert ws_address in example
    run([sys.executable, "-c", example.replace(ws_address, server.url.replace("http://", "ws://"))], run_dir, env)
    (pcm,) = played(tmp)
    assert_speech(pcm, "pcm", min_seconds=2.0)


@pytest.mark.browser
def test_browser_websocket_streams(server):
    """docs/api.md's web-page example for WS /v1/audio/speech/stream in Chromium: it sends the pieces,
    plays every pcm frame and resolves with the seconds of audio (its own call on load runs too)."""
    (source,) = blocks("js", "new WebSocket(", API_DOCS)
    with server_page(server) as page:
        frames = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
        page.add_script_tag(content=source.replace("ws://localhost:8880", server.url.replace("http://", "ws://")))
        seconds = page.evaluate("speakAsWritten(['Streaming ', 'into a web', ' page. Piece', ' by piece.'])")
    assert seconds > 1.0
    assert '{"type":"text","text":" page. Piece"}' in frames and '{"type":"end"}' in frames
