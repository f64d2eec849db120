"""IDLE_UNLOAD_S: ModelManager.unload_idle frees versions unused for that long (fake clock), never one with a
request in flight or waiting, and the next request builds the version again."""
import asyncio

from api.src.core.config import Settings
from api.src.inference.model_manager import ModelManager, VersionState
from tests.support.models import make_files


class FakeBackend:
    version = "v1_0"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def manager_with_clock(tmp_path):
    make_files(tmp_path)
    clock = Clock()
    manager = ModelManager(Settings(model_dir=tmp_path), builder=lambda *a: FakeBackend(), clock=clock)
    return manager, clock


def test_unloads_after_idle_time_and_rebuilds_on_next_request(tmp_path):
    manager, clock = manager_with_clock(tmp_path)

    async def main():
        first = await manager.get("v1_0")
        clock.now += 59
        assert await manager.unload_idle(60) == []
        assert manager.state("v1_0") is VersionState.READY
        clock.now += 1
        assert await manager.unload_idle(60) == ["v1_0"]
        assert manager.state("v1_0") is VersionState.IDLE
        assert manager.status()["v1_0"]["state"] == "unloaded_idle"
        second = await manager.get("v1_0")
        assert second is not first and manager.state("v1_0") is VersionState.READY
        assert manager.build_counts["v1_0"] == 2

    asyncio.run(main())


def test_each_request_restarts_the_idle_clock(tmp_path):
    manager, clock = manager_with_clock(tmp_path)

    async def main():
        await manager.get("v1_0")
        clock.now += 50
        await manager.get("v1_0")
        clock.now += 50
        assert await manager.unload_idle(60) == []

    asyncio.run(main())


def test_never_unloads_with_a_lease_held(tmp_path):
    manager, clock = manager_with_clock(tmp_path)

    async def main():
        lease = manager.lease("v1_0")
        await lease.acquire()
        clock.now += 3600
        assert await manager.unload_idle(60) == []
        lease.release()   # the request ends: idle from now on, not from its start
        lease.release()   # idempotent
        assert manager.leases("v1_0") == 0
        clock.now += 30
        assert await manager.unload_idle(60) == []
        clock.now += 30
        assert await manager.unload_idle(60) == ["v1_0"]

    asyncio.run(main())


def test_never_unloads_while_a_request_waits_for_the_version(tmp_path):
    manager, clock = manager_with_clock(tmp_path)

    async def main():
        await manager.get("v1_0")
        clock.now += 3600
        async with manager._locks["v1_0"]:   # a build/unload under way: requests are queued on it
            assert await manager.unload_idle(60) == []
        assert manager.state("v1_0") is VersionState.READY

    asyncio.run(main())


def test_setting_defaults_to_never():
    assert Settings().idle_unload_s == 0


def test_an_unload_waits_for_every_lease(tmp_path):
    """An explicit unload refuses (409) or waits while a lease is held; requests meanwhile wait for it."""
    from api.src.core.exceptions import Conflict
    import pytest

    manager, clock = manager_with_clock(tmp_path)

    async def main():
        async with manager.lease("v1_0") as backend:
            with pytest.raises(Conflict):
                await manager.unload("v1_0", wait=False)
            unloading = asyncio.create_task(manager.unload("v1_0"))
            await asyncio.sleep(0.2)
            assert not unloading.done() and manager.state("v1_0") is VersionState.READY
        await unloading
        assert manager.state("v1_0") is VersionState.NOT_LOADED
        async with manager.lease("v1_0") as rebuilt:
            assert rebuilt is not backend and manager.leases("v1_0") == 1
        assert manager.leases("v1_0") == 0

    asyncio.run(main())
