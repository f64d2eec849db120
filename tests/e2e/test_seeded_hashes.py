"""Seeded outputs pinned by hash: a refactor that changes what users hear, by one sample, fails here.

This module's server runs the tiny random models of ``tests/conftest.py`` (seeded weights), so the same
request with the same ``seed`` gives the same PCM bytes on the same torch build and CPU kernel family.
Float kernels differ between instruction sets (AVX2 vs AVX-512, AMX for bfloat16), torch releases and
engines (ENGINE: auto picks torch-bf16 on CPUs with AVX512_BF16 or AMX), so the pinned hashes are keyed
by all three; cases with no hash for the machine's key are skipped, with the hashes to add printed
(run it on main before a change, add them, then make the change). A change meant to alter the audio
re-pins the cases it changes on the machine at hand and drops them from the other keys.
"""
import hashlib
import json

import httpx
import pytest
import torch

from api.src.inference.engines import BF16_FLAGS, cpu_flags
from tests.support.server import AppServer

CASES = {
    "v1_plain": {"input": "The quick brown fox jumps over the lazy dog. It was a bright, cold day!",
                 "voice": "af_heart", "seed": 7},
    "v1_mix_speed": {"input": "Numbers like 42 and $3.50 are read aloud, at a faster pace.",
                     "voice": "af_bella(2)+am_adam(1)", "speed": 1.5, "seed": 11},
    "v1_pause_chunks": {"input": "First sentence here. [pause:0.3s] " + " ".join(
        f"Sentence {i} about the sea and a lighthouse keeper." for i in range(12)),
        "voice": "bm_george", "seed": 3},
    "v0_19_plain": {"model": "kokoro-v0_19", "input": "Hello from the older model, with a question?",
                    "voice": "af_bella", "seed": 5},
}
CAPTIONED = {"input": "Captions keep each word's timing.", "voice": "af_sky", "seed": 9}

# fingerprint -> case -> sha256 of the response's PCM bytes (or, for "captioned", of its audio + words)
PINNED = {
    "torch-2.13.0+cpu/AVX2/torch-fp32": {
        "v1_plain": "3287aa69857d0f821b428e880189c12feaebbc5432749dc6ba2a886b78888c59",
        "v1_mix_speed": "fec07e51839ddd3d998a53e23a416b5fecbab066cbe727adc8bfd4014aa42c0c",
        "v1_pause_chunks": "0d91daad068be87020ea32da744b698a8374721944486f723c856ca7e7fe723a",
        "v0_19_plain": "4d883c87bc108041e84b94cdb3ca31d894dd2d3e21106ca8bfc16257067e59a7",
        "captioned": "21996ce5e405bf965dabe82c0d1efa526775677822105595caa198d535cbfbae",
    },
    "torch-2.13.0+cpu/AVX512/torch-fp32": {   # ENGINE=torch-fp32 on an AVX-512 CPU
        "v1_plain": "45fd0c7e65ee5d4983bd3a97816865cc12688556e6b70ff4415a6270280f1d16",
        "v1_mix_speed": "c93f6e15b5ef11c3c6556894fdaf627be9a2bbf94c7aab9d413072e7b3300060",
        "v1_pause_chunks": "2d09706fbe99351d01bf95b331bfff3558098920171f32e4dee88b3bc725db13",
        "v0_19_plain": "61ca364d470e7ae641037567e46cbd627a33ecfa0ef3c1c56be91277ae7ac7ae",
        "captioned": "4fb97b5551f5ccd21030e9e090f7d6813e3aabc0ae15246973527bec8ab2d17d",
    },
    "torch-2.13.0+cpu/AVX512+amx_bf16+avx512_bf16/torch-bf16": {
        "v1_plain": "1faab1b2ff19928110a7323850579029ee6d5c3d130827b96ca3f927380a2584",
        "v1_mix_speed": "a9cce529a3fdd141c7c3455663f74ef7be37fd14225a8f384707bd5e211f65b2",
        "v1_pause_chunks": "0ef4b58a6dcee2ef5d4e44cab4344661c79d2649d83243763015cb64bd69e31d",
        "v0_19_plain": "8637c5eb69d9992c104f5de80a91a3240f99e5cd449a1efc35b8589bc69a9e3a",
        "captioned": "cd661fb6e78a3f917f0deadea161a53f1bf00a397c2f129922301d3293f71d4f",
    },
}


def fingerprint(engine: str) -> str:
    """torch build / kernel family (with the bfloat16 instructions a bf16 engine uses) / engine."""
    family = torch.backends.cpu.get_cpu_capability()
    if engine == "torch-bf16":
        family += "".join(f"+{flag}" for flag in sorted(BF16_FLAGS & cpu_flags()))
    return f"torch-{torch.__version__}/{family}/{engine}"


def speech_hash(server, body: dict) -> str:
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                   json={"model": "kokoro", **body, "response_format": "pcm", "stream": False})
    assert r.status_code == 200, r.text
    assert len(r.content) > 0
    return hashlib.sha256(r.content).hexdigest()


def captioned_hash(server) -> str:
    r = httpx.post(server.url + "/dev/captioned_speech", timeout=120,
                   json={"model": "kokoro", **CAPTIONED, "response_format": "pcm", "stream": False})
    assert r.status_code == 200, r.text
    body = r.json()
    words = json.dumps(body["timestamps"], sort_keys=True).encode()
    return hashlib.sha256(body["audio"].encode() + words).hexdigest()


@pytest.fixture(scope="module")
def network_server(model_dir):
    """The tiny random models with their networks (the shared server is model-free), v0.19 built too."""
    proc = AppServer(model_dir, preload_versions="v0_19").start()
    yield proc
    proc.stop()


def test_seeded_outputs_match_their_pinned_hashes(network_server):
    server = network_server
    observed = {name: speech_hash(server, body) for name, body in CASES.items()}
    observed["captioned"] = captioned_hash(server)
    # Determinism first: the same requests again give the same bytes (holds on any machine).
    assert observed == {**{name: speech_hash(server, body) for name, body in CASES.items()},
                        "captioned": captioned_hash(server)}
    key = fingerprint(httpx.get(server.url + "/health").json()["engine"])
    pinned = PINNED.get(key, {})
    assert {name: observed[name] for name in pinned} == pinned
    if pinned.keys() != observed.keys():
        pytest.skip(f"cases without a pinned hash for {key}; add: "
                    f"{json.dumps({n: h for n, h in observed.items() if n not in pinned}, indent=2)}")
