"""deploy/modal/app.py cannot run here (it needs Modal's cloud): it must compile, and import with the
real `modal` package when that is installed, with concurrency limits that match the server's."""
import importlib.util
import py_compile
import sys
from pathlib import Path

import pytest

from api.src.core.config import Settings

MODAL_APP = Path(__file__).resolve().parents[2] / "deploy" / "modal" / "app.py"


def load(monkeypatch, **env):
    pytest.importorskip("modal", reason="modal is not installed (pip install -e '.[modal]')")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location("kokoro_modal_app", MODAL_APP)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_it_compiles():
    py_compile.compile(str(MODAL_APP), doraise=True)


def test_it_imports_with_the_servers_admission_limit(monkeypatch):
    monkeypatch.delenv("MAX_ACTIVE_REQUESTS", raising=False)
    module = load(monkeypatch)
    assert module.app.name == "kokoro-tts"
    import modal
    assert isinstance(module.web, modal.Function) and isinstance(module.download, modal.Function)
    # a GPU container batches across requests: more than the server's default, which suits a CPU
    assert module.MAX_ACTIVE_REQUESTS == 64 > Settings.model_fields["max_active_requests"].default
    assert "MAX_INFLIGHT_PER_WORKER" not in module.SERVER_ENV   # one cap, one name
    assert 1 <= module.TARGET_INPUTS < module.MAX_ACTIVE_REQUESTS
    assert module.SERVER_ENV["MAX_ACTIVE_REQUESTS"] == str(module.MAX_ACTIVE_REQUESTS)
    assert module.SERVER_ENV["DEVICE"] == "cuda" and module.SERVER_ENV["MODEL_DIR"] == module.MODEL_DIR


def test_the_limit_follows_the_environment(monkeypatch):
    module = load(monkeypatch, MAX_ACTIVE_REQUESTS="12")
    assert (module.MAX_ACTIVE_REQUESTS, module.TARGET_INPUTS) == (12, 9)
    assert module.SERVER_ENV["MAX_ACTIVE_REQUESTS"] == "12"
