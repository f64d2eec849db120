"""The download folder: a planted FIFO cannot freeze the server, and an unsafe folder stops start-up."""
import os
import shutil
import threading
import time

import httpx
import pytest

from tests.support.server import AppServer


def test_a_fifo_in_the_download_folder_freezes_nothing(v1_model_dir, tmp_path):
    folder = tmp_path / "downloads"
    proc = AppServer(v1_model_dir, model_free=True, temp_file_dir=folder).start()
    try:
        name = "speech_" + "ab" * 16 + ".mp3"
        os.mkfifo(folder / name)
        answer = {}

        def download():
            try:
                answer["status"] = httpx.get(f"{proc.url}/v1/download/{name}", timeout=20).status_code
            except httpx.HTTPError as exc:
                answer["error"] = exc

        thread = threading.Thread(target=download)
        thread.start()
        started = time.monotonic()
        health = httpx.get(proc.url + "/health", timeout=10)   # answers while the download is asked for
        assert health.status_code == 200 and time.monotonic() - started < 5
        thread.join(20)
        assert answer.get("status") == 404, answer
    finally:
        proc.stop()


def test_a_folder_others_can_write_stops_start_up_with_the_setting_named(v1_model_dir, tmp_path):
    folder = tmp_path / "shared-downloads"
    folder.mkdir()
    os.chmod(folder, 0o777)
    proc = AppServer(v1_model_dir, model_free=True, temp_file_dir=folder)
    try:
        with pytest.raises(RuntimeError, match="stopped during start-up") as stopped:
            proc.start(timeout=60)
        assert "TEMP_FILE_DIR" in str(stopped.value) and "writable by others" in str(stopped.value)
    finally:
        proc.stop()


def test_a_new_folder_is_created_private(v1_model_dir, tmp_path):
    folder = tmp_path / "new" / "downloads"
    proc = AppServer(v1_model_dir, model_free=True, temp_file_dir=folder).start()
    try:
        assert (folder.stat().st_mode & 0o777) == 0o700
    finally:
        proc.stop()


def test_a_deleted_folder_is_made_again_for_the_next_link(v1_model_dir, tmp_path):
    """Someone (a tmp cleaner) removes TEMP_FILE_DIR while the server runs: the next link works."""
    folder = tmp_path / "downloads"
    proc = AppServer(v1_model_dir, temp_file_dir=folder).start()
    body = {"input": "Hello there.", "voice": "af_heart", "response_format": "wav", "stream": False,
            "return_download_link": True}
    try:
        first = httpx.post(proc.url + "/v1/audio/speech", json=body, timeout=60)
        assert httpx.get(proc.url + first.headers["x-download-path"], timeout=30).status_code == 200
        shutil.rmtree(folder)
        r = httpx.post(proc.url + "/v1/audio/speech", json=body, timeout=60)
        assert r.status_code == 200
        got = httpx.get(proc.url + r.headers["x-download-path"], timeout=30)
        assert got.status_code == 200 and got.content == r.content
        assert (folder.stat().st_mode & 0o777) == 0o700
    finally:
        proc.stop()
