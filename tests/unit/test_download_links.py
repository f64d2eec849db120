"""DownloadStore: publish only complete files, confine lookups, clean by age and size."""
import asyncio
import base64
import json
import os
import threading
import time

import pytest

from api.src.services.download_links import DownloadStore, tee_audio, tee_sse


@pytest.fixture
def store(tmp_path):
    store = DownloadStore(tmp_path / "downloads", max_bytes=1000, max_age_s=60, interval_s=3600)
    yield store
    store.close()


def _finished(store, data: bytes, fmt: str = "mp3", age: float = 0.0) -> str:
    pending = store.reserve(fmt)
    pending.write(data)
    assert pending.commit()
    if age:
        past = time.time() - age
        os.utime(store.folder / pending.name, (past, past))
    return pending.name


def _read(store, name):
    opened = store.open(name)
    assert opened is not None
    file, size = opened
    with file:
        data = file.read()
    assert len(data) == size
    return data


def test_published_only_when_committed(store):
    pending = store.reserve("wav")
    assert store.is_name(pending.name) and pending.name.endswith(".wav")
    assert store.open(pending.name) is None          # nothing yet
    pending.write(b"RIFF")
    pending.write(b"more")
    assert store.open(pending.name) is None          # partial: never served
    assert pending.commit()
    assert _read(store, pending.name) == b"RIFFmore"
    assert store.media_type(pending.name) == "audio/wav"


def test_abort_leaves_nothing(store):
    pending = store.reserve("mp3")
    pending.write(b"half a file")
    pending.abort()
    assert not pending.commit()
    assert store.open(pending.name) is None
    assert list(store.folder.iterdir()) == []


def test_names_are_unique_and_unguessable(store):
    names = {store.reserve("mp3").name for _ in range(1000)}
    assert len(names) == 1000
    with pytest.raises(ValueError):
        store.reserve("exe")


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd", "speech_x.mp3", "", ".", "..",
    "speech_" + "0" * 32 + ".mp3/../../x", "speech_" + "0" * 32 + ".exe", "speech_" + "0" * 32 + ".mp3\n",
    "SPEECH_" + "0" * 32 + ".mp3", "speech_" + "A" * 32 + ".mp3",
])
def test_traversal_names_not_found(store, name):
    store.start()
    (store.folder.parent / "secret.mp3").write_bytes(b"secret")
    assert store.open(name) is None


def test_symlink_and_partial_not_served(store, tmp_path):
    store.start()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"secret")
    link = "speech_" + "1" * 32 + ".mp3"
    (store.folder / link).symlink_to(secret)
    assert store.open(link) is None
    folder_name = "speech_" + "2" * 32 + ".mp3"
    (store.folder / folder_name).mkdir()
    assert store.open(folder_name) is None
    pending = store.reserve("mp3")
    pending.write(b"x")
    assert store.open(f".{pending.name}.partial") is None


def _age(path, seconds):
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_cleanup_by_age(store):
    old = _finished(store, b"old", age=120)
    fresh = _finished(store, b"fresh", age=10)
    assert store.open(old) is None                   # the next write cleaned it
    assert _read(store, fresh) == b"fresh"
    stale = store.reserve("mp3")
    stale.write(b"a writer that died")
    _age(stale._partial, 120)
    live = store.reserve("mp3")
    live.write(b"a writer still at work")
    assert store.cleanup() == [f".{stale.name}.partial"]
    assert live._partial.exists()
    _age(store.folder / fresh, 61)
    assert store.cleanup() == [fresh]
    assert live.commit() and _read(store, live.name) == b"a writer still at work"


def test_cleanup_by_size_oldest_first(store):
    names = [_finished(store, bytes(300), age=50 - i) for i in range(3)]   # 900 bytes, oldest first
    assert all(store.open(n) for n in names)
    newest = _finished(store, bytes(300))   # 1200 > 1000: the commit evicts the oldest
    assert store.open(names[0]) is None
    assert all(store.open(n) for n in names[1:] + [newest])


def test_newest_kept_even_alone_over_budget(store):
    small = _finished(store, bytes(10), age=5)
    big = _finished(store, bytes(5000))
    assert store.open(small) is None
    assert len(_read(store, big)) == 5000


def test_foreign_files_untouched(store):
    store.start()
    other = store.folder / "notes.txt"
    other.write_bytes(bytes(5000))
    past = time.time() - 1000
    os.utime(other, (past, past))
    _finished(store, bytes(10))
    store.cleanup()
    assert other.exists()


def test_janitor_runs_periodically(tmp_path):
    store = DownloadStore(tmp_path / "d", max_bytes=10**6, max_age_s=0.2, interval_s=0.05)
    try:
        name = _finished(store, b"short-lived")
        deadline = time.monotonic() + 5
        while store.open(name) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.open(name) is None
    finally:
        store.close()


def test_concurrent_commits_respect_budget(store):
    def work():
        for _ in range(20):
            _finished(store, bytes(100))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(p.stat().st_size for p in store.folder.iterdir()) <= 1000


def test_disk_error_only_loses_the_link(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")   # the folder cannot be made: every write fails (even for root)
    store = DownloadStore(blocker, max_bytes=1000, max_age_s=60)
    pending = store.reserve("mp3")
    pending.write(b"data")     # logged, not raised: the response carries on
    assert not pending.commit()
    assert store.open(pending.name) is None
    assert store.cleanup() == []


async def _agen(items):
    for item in items:
        yield item


def _collect(agen):
    async def run():
        return [x async for x in agen]
    return asyncio.run(run())


def test_tee_audio_copies_and_publishes(store):
    pending = store.reserve("wav")
    assert _collect(tee_audio(_agen([b"ab", b"cd"]), pending)) == [b"ab", b"cd"]
    assert _read(store, pending.name) == b"abcd"


def test_tee_audio_failure_discards(store):
    async def failing():
        yield b"ab"
        raise RuntimeError("chunk failed")

    pending = store.reserve("wav")
    with pytest.raises(RuntimeError):
        _collect(tee_audio(failing(), pending))
    assert store.open(pending.name) is None and list(store.folder.iterdir()) == []


def _event(payload):
    return f"data: {json.dumps(payload)}\n\n".encode()


def test_tee_sse_keeps_decoded_audio(store):
    events = [_event({"type": "speech.audio.delta", "audio": base64.b64encode(b"ab").decode()}),
              _event({"type": "speech.audio.delta", "audio": base64.b64encode(b"cd").decode()})]
    done = _event({"type": "speech.audio.done", "usage": {}})
    pending = store.reserve("mp3")
    seen = []

    async def run():
        async for data in tee_sse(_agen(events + [done]), pending):
            if data == done:   # the link is live by the time the client sees "done"
                seen.append(store.open(pending.name) is not None)
    asyncio.run(run())
    assert seen == [True]
    assert _read(store, pending.name) == b"abcd"


def test_tee_sse_error_event_discards(store):
    events = [_event({"type": "speech.audio.delta", "audio": base64.b64encode(b"ab").decode()}),
              _event({"type": "error", "error": {"message": "x"}})]
    pending = store.reserve("mp3")
    assert len(_collect(tee_sse(_agen(events), pending))) == 2
    assert store.open(pending.name) is None


@pytest.mark.parametrize("tee", ["audio", "sse"])
def test_a_tee_closed_early_closes_its_inner_body_at_once(store, tee):
    closed = []

    async def inner():
        try:
            for i in range(5):
                yield b"data: {\"type\": \"speech.audio.delta\", \"audio\": \"AAAA\"}\n\n" if tee == "sse" else b"x"
        finally:
            closed.append(True)

    async def run():
        pending = store.reserve("mp3")
        outer = tee_audio(inner(), pending) if tee == "audio" else tee_sse(inner(), pending)
        await outer.__anext__()
        await outer.aclose()          # the response ended (client gone)
        assert closed == [True]       # at once, not when the garbage collector gets to it

    asyncio.run(run())
