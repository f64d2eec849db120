"""ModelManager's warm-up hook: a freshly built version serves nobody before it is warm."""
import asyncio

import pytest

from api.src.core.config import Settings
from api.src.core.exceptions import ServiceUnavailable
from api.src.inference.model_manager import ModelManager, VersionState
from tests.support.models import make_files


class Backend:
    warm = False


def test_every_caller_gets_the_backend_only_after_its_warm_up(tmp_path):
    make_files(tmp_path)
    warmed = []

    async def warm_up(backend):
        await asyncio.sleep(0.2)   # callers arriving meanwhile must wait, not get a cold backend
        backend.warm = True
        warmed.append(backend)

    manager = ModelManager(Settings(model_dir=tmp_path), builder=lambda *_: Backend(), warm_up=warm_up)

    async def main():
        first = asyncio.create_task(manager.get("v1_0"))
        await asyncio.sleep(0.05)
        assert manager.state("v1_0") == VersionState.LOADING
        others = await asyncio.gather(*(manager.get("v1_0") for _ in range(5)))
        return [await first, *others]

    backends = asyncio.run(main())
    assert len(warmed) == 1 and all(b is warmed[0] and b.warm for b in backends)
    assert manager.state("v1_0") == VersionState.READY and manager.build_counts["v1_0"] == 1


def test_a_failing_warm_up_fails_the_build(tmp_path):
    make_files(tmp_path)

    async def warm_up(backend):
        raise RuntimeError("the first synthesis produced NaN")

    manager = ModelManager(Settings(model_dir=tmp_path), builder=lambda *_: Backend(), warm_up=warm_up)
    with pytest.raises(ServiceUnavailable) as info:
        asyncio.run(manager.get("v1_0"))
    assert info.value.code == "model_load_failed" and "NaN" in info.value.message
    assert manager.state("v1_0") == VersionState.FAILED and manager.status()["v1_0"]["state"] == "failed"
