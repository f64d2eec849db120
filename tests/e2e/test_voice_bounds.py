"""Voice packs cannot run the server out of memory or into 500s (issue 22 §4, §5): a request speaks with at
most MAX_VOICES_PER_REQUEST distinct packs (5,500 inline mixes once added 1.74 GB), specs of one mix share
one pack, and a damaged pack file is a clear 400 that leaves the listing and the other voices alone."""
import ctypes
import re

import httpx
import numpy as np
import pytest
import torch

from tests.support.http_calls import assert_envelope
from tests.support.server import AppServer

PACK_MB = 510 * 256 * 4 / 2**20   # one v1.0 pack, float32
LIMIT = 32                        # MAX_VOICES_PER_REQUEST's default
MIXES = 1000   # as packs, 500 MB: more than the free heap an allocator keeps (peak RSS would not see less)


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): the in-process server's, with the test's own few megabytes."""
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024


def reset_peak_rss() -> None:
    """Free heap memory back to the system (else the next allocations reuse it unseen), then restart VmHWM."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


@pytest.fixture(scope="module")
def voices_server(v1_model_dir, tmp_path_factory):
    """Defaults; the test model's files linked, and a saved-voices folder of its own holding damaged packs."""
    root = tmp_path_factory.mktemp("models-damaged")
    (root / "v1_0").mkdir()
    for item in (v1_model_dir / "v1_0").iterdir():
        if item.name != "voices_saved":
            (root / "v1_0" / item.name).symlink_to(item)
    saved = root / "v1_0" / "voices_saved"
    saved.mkdir()
    whole = (v1_model_dir / "v1_0" / "voices" / "af_heart.pt").read_bytes()
    (saved / "af_truncated.pt").write_bytes(whole[: len(whole) // 2])
    (saved / "af_corrupt.pt").write_bytes(bytes(range(256)) * 64)
    torch.save(torch.full((510, 1, 256), float("inf")), saved / "af_infinite.pt")   # what combine once saved
    proc = AppServer(root, model_free=True).start()
    r = httpx.post(proc.url + "/v1/audio/voices/combine", json={"voices": "af_heart+af_bella+af_sky+af_nova"},
                   timeout=60)
    assert r.status_code == 200   # the packs the tests mix, loaded (no synthesis: it would allocate too)
    yield proc
    proc.stop()


def _refused(server, specs) -> tuple[dict, float]:
    """A request that speaks ``specs`` one after another (tags), and the peak RSS growth it cost (MB).

    Every voice is resolved before synthesis starts: a request refused for its voices synthesizes nothing,
    so what it cost is its packs (a synthesis would allocate as much again for its own, once per shape)."""
    reset_peak_rss()
    before = peak_rss_mb()
    text = " ".join(f"[voice:{spec}] w." for spec in specs)
    body = {"input": text, "voice": "af_heart", "response_format": "pcm", "allow_voice_tags": True}
    with httpx.stream("POST", server.url + "/v1/audio/speech", json=body, timeout=120) as r:
        grown = peak_rss_mb() - before
        if r.status_code == 200:   # not refused (before issue 22): what it took, without all of its audio
            pytest.fail(f"{len(specs)} voices spoken, peak RSS grew {grown:.0f} MB")
        r.read()
    error = assert_envelope(r, 400, "input")
    assert error["code"] == "too_many_voices" and f"MAX_VOICES_PER_REQUEST={LIMIT}" in error["message"], error
    return error, grown


def test_distinct_mixes_past_the_limit_are_a_400_and_cost_no_memory(voices_server):
    _, grown = _refused(voices_server, [f"af_bella({i % 100 + 1})+af_sky({i // 100 + 1})" for i in range(MIXES)])
    # at most LIMIT packs were built (and kept by the mix cache): not the MIXES packs the text asks for
    assert grown < (LIMIT + 16) * PACK_MB, f"peak RSS grew {grown:.0f} MB"


def test_specs_of_one_mix_share_one_pack(voices_server):
    """992 spellings of 31 mixes (``af_heart(2)+af_nova(1)`` is ``af_heart(0.5)+af_nova(0.25)``) take 31 packs
    and count as 31 voices: only the 33rd distinct mix after them is refused."""
    specs = [f"af_heart({ratio * 2.0 ** power!r})+af_nova({2.0 ** power!r})"
             for ratio in range(1, LIMIT) for power in range(-LIMIT + 1, 1)]
    assert len(set(specs)) == (LIMIT - 1) * LIMIT
    error, grown = _refused(voices_server, [*specs, "af_nova+af_sky", "af_nova+af_bella"])
    assert grown < (LIMIT + 16) * PACK_MB, f"peak RSS grew {grown:.0f} MB"


@pytest.mark.parametrize("name", ["af_truncated", "af_corrupt", "af_infinite"])
def test_a_damaged_pack_is_a_clear_400_and_the_rest_still_works(voices_server, name):
    listed = httpx.get(voices_server.url + "/v1/audio/voices", timeout=30)
    assert listed.status_code == 200 and name in [v["id"] for v in listed.json()["voices"]]
    for spec in (name, f"af_heart+{name}"):
        r = httpx.post(voices_server.url + "/v1/audio/speech", json={"input": "Hello.", "voice": spec}, timeout=60)
        error = assert_envelope(r, 400, "voice")
        assert error["code"] == "invalid_voice" and repr(name) in error["message"], error
        assert "/" not in error["message"], error   # no path: that goes to the log
    r = httpx.post(voices_server.url + "/v1/audio/voices/combine", json={"voices": f"af_heart+{name}"}, timeout=60)
    assert_envelope(r, 400)
    ok = httpx.post(voices_server.url + "/v1/audio/speech", timeout=60,
                    json={"input": "Hello.", "voice": "af_heart", "response_format": "pcm"})
    assert ok.status_code == 200 and np.frombuffer(ok.content, "<i2").any()
