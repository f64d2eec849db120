"""The composition root in-process: create_app(settings) serves, and its shutdown stops what it started."""
import subprocess
import sys
import threading

from fastapi.testclient import TestClient

from api.src.core.config import Settings
from api.src.main import create_app
from tests.support.paths import REPO_ROOT


def janitors() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "download-cleanup" and t.is_alive()]


def test_shutdown_stops_the_download_janitor_and_the_worker(v1_model_dir, tmp_path):
    settings = Settings(model_dir=v1_model_dir, temp_file_dir=tmp_path / "downloads", torch_threads=2,
                        enable_web_ui=False)
    app = create_app(settings)
    assert not janitors()
    with TestClient(app) as client:
        r = client.post("/v1/audio/speech", json={"input": "Keep a copy.", "voice": "af_heart",
                                                  "response_format": "wav", "return_download_link": True})
        assert r.status_code == 200
        kept = client.get(r.headers["x-download-path"]).content
        # the kept file carries the WAV's true sizes, the streamed answer "unknown" ones: all else is equal
        assert kept[:4] + kept[8:40] + kept[44:] == r.content[:4] + r.content[8:40] + r.content[44:]
        assert len(janitors()) == 1
    assert not janitors(), "DownloadStore.close() was not called at shutdown"
    assert not app.state.scheduler.alive


def test_importing_main_builds_no_app_until_app_is_asked_for():
    code = ("import api.src.main as m; print('app' in vars(m)); "
            "import sys; sys.exit(0 if callable(m.create_app) else 1)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_old_inflight_cap_sets_the_one_cap_with_a_warning(tmp_path, capsys):
    """MAX_INFLIGHT_PER_WORKER (deprecated) sets MAX_ACTIVE_REQUESTS, the scheduler's one cap, and start-up
    warns with the new name; beside an explicit MAX_ACTIVE_REQUESTS the smaller binds, as before."""
    app = create_app(Settings(model_dir=tmp_path, temp_file_dir=tmp_path / "dl", enable_web_ui=False,
                              max_inflight_per_worker=3))
    assert app.state.scheduler.admission.max_active_streams == 3
    err = capsys.readouterr().err
    assert "WARNING" in err and "MAX_INFLIGHT_PER_WORKER is deprecated: set MAX_ACTIVE_REQUESTS" in err
    assert Settings(max_inflight_per_worker=30, max_active_requests=12).max_active_requests == 12
    assert Settings(max_inflight_per_worker=5, max_active_requests=12).max_active_requests == 5
    assert Settings().max_active_requests == 10 and Settings().deprecations() == []
    create_app(Settings(model_dir=tmp_path, temp_file_dir=tmp_path / "dl", enable_web_ui=False))
    assert "deprecated" not in capsys.readouterr().err
