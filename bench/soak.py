#!/usr/bin/env python
"""Soak test: thousands of mixed requests against one server; does its memory stay flat?

    python bench/soak.py [--requests 2000] [--concurrency 4] [--every 100] [--size tiny|full]
    python bench/soak.py --url http://127.0.0.1:8880 --pid 1234     # a server you started

Without ``--url`` it writes a random-weight Kokoro v1.0 (``api.src.tools.random_model``, tiny by
default) into a temporary folder and starts ``python -m uvicorn api.src.main:app`` on a free loopback
port. Only loopback servers are accepted (this is a load generator, not a benchmark of a network).

The mix, reproducible from ``--seed``: every response format (mp3, opus, aac, flac, wav, pcm); single
voices, OpenAI names and weighted mixes (random weights, so there are far more distinct mixes than the
server's mix cache holds); non-streamed, streamed to the end, streamed and cut short after the first
bytes, SSE to the end and SSE cut short; texts from a few words to a paragraph, some repeated (the
chunk cache) and most fresh.

Every ``--every`` requests it prints the server's RSS (``/proc/<pid>/status``; needs the server's
pid, i.e. started here or ``--pid``) and, when the server runs on CUDA, its GPU memory (the
``kokoro_gpu_memory_bytes`` gauge of /metrics). At the end: the least-squares slope of RSS (and GPU
memory) in MB per 1000 requests over the samples after ``--warmup`` (a fraction of the run), and the
growth from the first to the last of those samples. Flat after warm-up means bounded per request.

Bounded: at most ``--requests`` requests and ``--max-seconds`` of wall time; exit code 1 when more
than 1% of requests failed, or when ``--max-slope`` is given and the RSS slope exceeds it.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overhead import Server, _ensure_tcmalloc  # noqa: E402  (bench/ is not a package)

VOICES = ("af_heart", "af_bella", "af_sky", "am_adam", "bf_emma", "bm_george")
OPENAI_NAMES = ("alloy", "nova", "echo", "fable", "onyx")
# what the OpenAI names map to (api/src/core/openai_voices.json), for the random model written here
MODEL_VOICES = VOICES + ("af_alloy", "af_nova", "am_echo", "bm_fable", "am_onyx")
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MODES = ("whole", "stream", "stream_cut", "sse", "sse_cut")
WORDS = ("harbor lantern river market quiet seven morning garden window letter station copper meadow "
         "winter signal thunder orchard velvet candle", "ninety twelve Tuesday forty-two 3.5 percent $20")
REPEATED = ("Hello there, this sentence comes back again and again.",
            "The quick brown fox jumps over the lazy dog.")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Tally:
    done: int = 0
    by_status: dict = field(default_factory=dict)
    failed: int = 0
    bytes: int = 0

    def count(self, status: str, ok: bool) -> None:
        self.done += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.failed += 0 if ok else 1


def make_text(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(REPEATED)
    words = " ".join(WORDS).split()
    sentences = []
    for _ in range(rng.choice((1, 1, 1, 2, 4))):
        n = rng.randint(3, 12)
        sentences.append(" ".join(rng.choice(words) for _ in range(n)).capitalize() + rng.choice(".!?"))
    return " ".join(sentences)


def make_voice(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.5:
        return rng.choice(VOICES)
    if kind < 0.65:
        return rng.choice(OPENAI_NAMES)
    a, b = rng.sample(VOICES, 2)
    return f"{a}({rng.randint(1, 9)})+{b}({rng.randint(1, 9)})"   # ~2,000 distinct mixes


def make_request(i: int, seed: int, formats: tuple[str, ...] = FORMATS) -> tuple[str, dict]:
    rng = random.Random(seed * 1_000_003 + i)
    mode = MODES[i % len(MODES)]
    fmt = formats[(i // len(MODES)) % len(formats)]
    body = {"model": "kokoro", "input": make_text(rng), "voice": make_voice(rng), "response_format": fmt,
            "speed": rng.choice((0.8, 1.0, 1.0, 1.25))}
    if mode == "whole":
        body["stream"] = False
    elif mode.startswith("sse"):
        body["stream_format"] = "sse"
    return mode, body


async def one(http: httpx.AsyncClient, i: int, seed: int, tally: Tally, formats: tuple[str, ...] = FORMATS) -> None:
    mode, body = make_request(i, seed, formats)
    try:
        async with http.stream("POST", "/v1/audio/speech", json=body) as r:
            if r.status_code != 200:
                await r.aread()
                tally.count(str(r.status_code), r.status_code == 429)   # backpressure is not a failure
                return
            async for data in r.aiter_raw():
                tally.bytes += len(data)
                if mode.endswith("_cut"):
                    break   # the client leaves mid-answer: the server must drop its work
        tally.count(mode, True)
    except httpx.HTTPError as exc:
        tally.count(type(exc).__name__, False)


def rss_mb(pid: Optional[int]) -> Optional[float]:
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else None


def metric_mb(text: str, pattern: str) -> Optional[float]:
    match = re.search(rf"^{pattern} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) / 2**20 if match else None


def slope_per_1000(points: list[tuple[int, float]]) -> Optional[float]:
    """Least-squares slope of (requests, MB), in MB per 1000 requests."""
    if len(points) < 2:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else None


def local_server(size: str, workdir: Path, threads: int, concurrency: int, env: dict[str, str],
                 allocator: str) -> Server:
    """A server on a random model in a temporary folder (overhead.py's Server), with production's
    defaults but for the in-flight cap, which the soak's own concurrency must not hit, and ``env``.
    ``allocator`` tcmalloc preloads it as scripts/run.sh and the images do (glibc's malloc keeps far
    more freed memory mapped with tensors of ever-changing sizes)."""
    from api.src.tools.random_model import write_random_model

    write_random_model(workdir / "models", version="v1_0", size=size, voices=MODEL_VOICES, seed=7)
    if allocator == "tcmalloc":
        lib = _ensure_tcmalloc()
        if lib is None:
            raise SystemExit("tcmalloc (libtcmalloc-minimal4) is not installed; or pass --allocator glibc")
        env = {"LD_PRELOAD": lib, **env}
    return Server(workdir / "models", threads, settings={
        "MAX_ACTIVE_REQUESTS": str(max(10, concurrency * 2)), "ENABLE_WEB_UI": "false", **env})


async def soak(url: str, pid: Optional[int], args) -> int:
    tally = Tally()
    rss: list[tuple[int, float]] = []
    rss_less_cache: list[tuple[int, float]] = []   # what is not the (bounded) chunk cache's audio
    gpu: list[tuple[int, float]] = []
    began = time.monotonic()
    next_i = 0
    limits = httpx.Limits(max_connections=args.concurrency * 2)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
        async def sample() -> None:
            text = (await http.get("/metrics")).text
            r = rss_mb(pid)
            g = metric_mb(text, r'kokoro_gpu_memory_bytes\{kind="allocated"\}')
            c = metric_mb(text, "kokoro_chunk_cache_bytes") or 0.0
            if r is not None:
                rss.append((tally.done, r))
                rss_less_cache.append((tally.done, r - c))
            if g is not None:
                gpu.append((tally.done, g))
            print(f"{tally.done:6d} requests  {time.monotonic() - began:7.1f} s  "
                  f"RSS {'-' if r is None else f'{r:8.1f} MB'}  chunk cache {c:6.1f} MB  "
                  f"GPU {'-' if g is None else f'{g:8.1f} MB'}  "
                  f"failed {tally.failed}  {dict(sorted(tally.by_status.items()))}", flush=True)

        async def worker() -> None:
            nonlocal next_i
            while next_i < args.requests and time.monotonic() - began < args.max_seconds:
                i, next_i = next_i, next_i + 1
                await one(http, i % args.distinct if args.distinct else i, args.seed, tally, args.formats)
                if tally.done % args.every == 0:
                    await sample()

        await sample()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        await asyncio.sleep(1.0)   # let the server finish dropping cut-short work
        await sample()

    elapsed = time.monotonic() - began
    print(f"\n{tally.done} requests in {elapsed:.0f} s ({tally.done / elapsed:.1f}/s), {tally.failed} failed, "
          f"{tally.bytes / 2**20:.0f} MB received")
    status = 0
    for name, points in (("RSS", rss), ("RSS less the chunk cache's audio", rss_less_cache),
                         ("GPU allocated", gpu)):
        after = [p for p in points if p[0] >= args.warmup * tally.done]
        slope = slope_per_1000(after)
        if slope is None:
            continue
        print(f"{name}: {after[0][1]:.1f} MB at {after[0][0]} requests -> {after[-1][1]:.1f} MB at {after[-1][0]}; "
              f"slope after warm-up {slope:+.2f} MB per 1000 requests (peak {max(p[1] for p in points):.1f} MB)")
        if name == "RSS" and args.max_slope is not None and slope > args.max_slope:
            print(f"RSS slope {slope:.2f} exceeds --max-slope {args.max_slope}")
            status = 1
    if tally.failed > 0.01 * max(1, tally.done):
        print("more than 1% of the requests failed")
        status = 1
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server on loopback (default: start one here)")
    parser.add_argument("--pid", type=int, help="that server's process id, for its RSS")
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny", help="random model to start with")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--every", type=int, default=100, help="sample memory every N requests")
    parser.add_argument("--warmup", type=float, default=0.25, help="fraction of the run left out of the slope")
    parser.add_argument("--max-seconds", type=float, default=3600)
    parser.add_argument("--max-slope", type=float, help="fail above this RSS slope (MB per 1000 requests)")
    parser.add_argument("--threads", type=int, default=2, help="TORCH_THREADS of the server started here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help="response formats to cycle through (comma-separated; default all six)")
    parser.add_argument("--distinct", type=int, default=0,
                        help="cycle through this many distinct requests (0: every request new); with "
                             "CHUNK_CACHE_MB=0, growth past the first cycle is per request, not new shapes")
    parser.add_argument("--allocator", choices=("tcmalloc", "glibc"), default="tcmalloc",
                        help="the server's malloc (tcmalloc: as scripts/run.sh and the images start it)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for the server started here (repeatable), e.g. CHUNK_CACHE_MB=8")
    args = parser.parse_args()
    args.formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if not args.formats or set(args.formats) - set(FORMATS):
        parser.error(f"--formats: choose from {', '.join(FORMATS)}")
    if args.requests < 1 or args.concurrency < 1 or args.every < 1 or not 0 <= args.warmup < 1:
        parser.error("--requests, --concurrency, --every must be positive and --warmup in [0, 1)")

    if args.url:
        if urlparse(args.url).hostname not in LOOPBACK:
            parser.error("--url must be a loopback address (127.0.0.1, localhost, ::1)")
        return asyncio.run(soak(args.url.rstrip("/"), args.pid, args))
    with tempfile.TemporaryDirectory(prefix="kokoro-soak-") as tmp:
        env = dict(e.split("=", 1) for e in args.env)
        server = local_server(args.size, Path(tmp), args.threads, args.concurrency, env, args.allocator)
        try:
            server.wait_ready()
            print(f"server {server.url} (pid {server.proc.pid}, {args.size} random model, {args.allocator}, "
                  f"settings {env or 'default'})", flush=True)
            return asyncio.run(soak(server.url, server.proc.pid, args))
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
