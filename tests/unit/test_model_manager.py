"""ModelManager: model ids, lazy build once under concurrency, missing files as 503."""
import asyncio
import threading
import time

import pytest
import torch

from api.src.builds import VERSIONS
from api.src.core.config import Settings
from api.src.http.errors import http_error
from api.src.core.exceptions import InvalidRequest, ServiceUnavailable
from api.src.inference.model_manager import ModelManager, VersionState, resolve_device
from tests.support.models import make_files


def test_model_ids_select_the_default_version(tmp_path):
    manager = ModelManager(Settings(model_dir=tmp_path))
    for model_id in ("kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "kokoro-v1_0"):
        assert manager.version_for(model_id) == "v1_0"
    with pytest.raises(InvalidRequest) as info:
        manager.version_for("whisper-1")
    assert "tts-1" in info.value.message and info.value.param == "model"


def test_unknown_default_version_is_refused(tmp_path):
    with pytest.raises(ValueError):
        ModelManager(Settings(model_dir=tmp_path, default_model_version="v9"))


def test_concurrent_first_requests_build_once(tmp_path):
    make_files(tmp_path)
    calls, threads, build_threads = [], set(), []

    def builder(spec, settings, device, engine):
        calls.append(spec.version)
        threads.add(threading.get_ident())
        build_threads.append(threading.current_thread())
        time.sleep(0.3)
        return object()

    manager = ModelManager(Settings(model_dir=tmp_path), builder=builder)

    async def main():
        loop_thread = threading.get_ident()
        backends = await asyncio.gather(*(manager.get("v1_0") for _ in range(10)))
        assert loop_thread not in threads   # built off the event loop
        for thread in build_threads:        # in a thread that ended with the build, while the loop
            thread.join(2)                  # runs on (torch_threads: no OpenMP team outlives it)
            assert not thread.is_alive()
        return backends

    backends = asyncio.run(main())
    assert calls == ["v1_0"]
    assert all(b is backends[0] for b in backends)
    assert manager.state("v1_0") is VersionState.READY
    assert manager.build_counts["v1_0"] == 1


def test_missing_files_answer_503_without_retry(tmp_path):
    manager = ModelManager(Settings(model_dir=tmp_path), builder=lambda *a: pytest.fail("must not build"))
    with pytest.raises(ServiceUnavailable) as info:
        asyncio.run(manager.get("v1_0"))
    assert http_error(info.value).status_code == 503
    assert http_error(info.value).headers["x-should-retry"] == "false"
    assert "kokoro-v1_0.pth" in info.value.message
    assert manager.status()["v1_0"]["state"] == "missing_files"
    # the client learns the file names and the command, never where the server keeps them
    assert str(tmp_path) not in info.value.message and str(tmp_path) not in str(manager.status())
    assert "missing config.json, kokoro-v1_0.pth, voices/*.pt" in info.value.message
    assert "`kokoro-download --version v1_0`" in info.value.message


def test_a_failed_build_tells_clients_no_paths(tmp_path):
    make_files(tmp_path)

    def builder(*_):
        raise RuntimeError(f"cannot read {tmp_path.resolve()}/v1_0/kokoro-v1_0.pth")

    manager = ModelManager(Settings(model_dir=tmp_path), builder=builder)
    with pytest.raises(ServiceUnavailable) as info:
        asyncio.run(manager.get("v1_0"))
    assert str(tmp_path) not in info.value.message and "MODEL_DIR/v1_0/kokoro-v1_0.pth" in info.value.message
    assert str(tmp_path) not in str(manager.status())


def test_device_cuda_with_a_cpu_only_torch_names_torch_index_url(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(ValueError, match="CPU-only build") as info:
        resolve_device("cuda")
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cu" in str(info.value)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"


def test_failed_build_is_reported(tmp_path):
    make_files(tmp_path)

    def builder(*_):
        raise RuntimeError("weights are broken")

    manager = ModelManager(Settings(model_dir=tmp_path), builder=builder)
    with pytest.raises(ServiceUnavailable) as info:
        asyncio.run(manager.get("v1_0"))
    assert "weights are broken" in info.value.message
    assert manager.status()["v1_0"] == {"state": "failed", "error": "weights are broken"}


def test_registry_is_data():
    assert set(VERSIONS) == {"v1_0", "v0_19"}
    assert VERSIONS["v1_0"].model_id == "kokoro-v1_0" and VERSIONS["v0_19"].model_id == "kokoro-v0_19"
    assert (VERSIONS["v1_0"].voice_row(10), VERSIONS["v0_19"].voice_row(10)) == (9, 10)
    assert VERSIONS["v0_19"].wrapper_key == "net" and VERSIONS["v1_0"].wrapper_key is None


def test_model_ids_include_every_version(tmp_path):
    manager = ModelManager(Settings(model_dir=tmp_path))
    assert manager.version_for("kokoro-v0_19") == "v0_19"
    manager = ModelManager(Settings(model_dir=tmp_path, default_model_version="v0_19"))
    assert manager.version_for("tts-1") == "v0_19" and manager.version_for("kokoro-v1_0") == "v1_0"
