#!/usr/bin/env python
"""Short requests among long ones: 12 clients reading long texts and 4 asking for a short reply, at once.

    python bench/short_among_long.py [--model-dir DIR] [--size tiny|full] [--duration S] [--long N] [--short N]

A server (``ServerProcess``: uvicorn in a child process, the default settings but the chunk cache off,
so every request runs the model) on a random Kokoro v1.0 model (``--size``: ``tiny`` by default, written
once into bench/.cache/models-<size>). The long clients start first; once they hold every place long
requests may take, the short clients start, each asking again as soon as it has its answer, for
``--duration`` seconds (clients told 429 wait the ``Retry-After`` they get). Printed: per short client
its answered requests, the shorts' 429s and the Retry-After values they carried, and the shorts' time to
first audio (first try to first byte, waits for 429s included): p50, p95, max.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from tests.support.mixed_load import run_mixed  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

CACHE = REPO_ROOT / "bench" / ".cache"


def model_dir(size: str) -> Path:
    from api.src.tools.random_model import write_random_model
    from tests.support.models import TEST_VOICES

    root = CACHE / f"models-{size}"
    if not (root / "v1_0").is_dir():
        write_random_model(root, version="v1_0", size=size, voices=TEST_VOICES, seed=1)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--long", type=int, default=12)
    parser.add_argument("--short", type=int, default=4)
    parser.add_argument("--longs-first", type=int, default=5, help="long requests running before the shorts start")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(args.model_dir or model_dir(args.size), CACHE / "short_among_long.log",
                           chunk_cache_mb=0, log_level="WARNING").start()
    try:
        result = asyncio.run(run_mixed(server.url, duration_s=args.duration, long_clients=args.long,
                                       short_clients=args.short, longs_first=args.longs_first,
                                       start_timeout_s=300))
    finally:
        server.stop()
    print(f"short clients' answered requests: {[len(c) for c in result.shorts]}")
    print(f"short 429s: {result.short_refusals} (Retry-After values {sorted(set(result.retry_after))})")
    print(f"long requests admitted {result.long_admitted}, refused {result.long_refusals}")
    values = result.first_audio()
    if values:
        print(f"short first audio: p50 {result.percentile(50):.2f} s, p95 {result.percentile(95):.2f} s, "
              f"max {values[-1]:.2f} s over {len(values)} requests")
    return 0 if all(result.shorts) else 1


if __name__ == "__main__":
    sys.exit(main())
