"""Long and short speech clients at once against a server (anything with ``url``): what the short ones get.

Each long client asks for a long text again and again, reading its audio as it comes, so the long
requests keep their places; each short client asks for a short text again and again. A client that
gets 429 waits the ``Retry-After`` it was given and asks again. The shorts start once enough long
requests run (``longs_first``), so they arrive at a server the long ones have already filled.

For each short request: ``first_audio_s`` from its first try to its first audio byte (its 429 waits
included) and how many tries it took. Used by tests/e2e/test_short_among_long.py and
bench/short_among_long.py.
"""
import asyncio
import math
import time
from dataclasses import dataclass, field

import httpx

LONG_TEXT = " ".join(f"Sentence {i} of a long chapter keeps this request busy for a good while." for i in range(400))
SHORT_TEXT = "A short reply, please."


@dataclass
class ShortRequest:
    first_audio_s: float    # first try -> first audio byte
    tries: int              # 1: admitted at once


@dataclass
class MixedResult:
    shorts: list[list[ShortRequest]] = field(default_factory=list)   # per short client, its answered requests
    short_refusals: int = 0
    retry_after: list[int] = field(default_factory=list)             # every Retry-After the shorts got
    long_admitted: int = 0
    long_refusals: int = 0

    def first_audio(self) -> list[float]:
        return sorted(r.first_audio_s for client in self.shorts for r in client)

    def percentile(self, p: float) -> float:
        values = self.first_audio()
        return values[min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1)] if values else math.inf


async def _retry_wait(r: httpx.Response, end: float) -> None:
    await asyncio.sleep(max(0.0, min(float(r.headers.get("retry-after", "1")), end - time.monotonic())))


async def run_mixed(url: str, *, duration_s: float, long_clients: int = 12, short_clients: int = 4,
                    longs_first: int = 1, long_text: str = LONG_TEXT, short_text: str = SHORT_TEXT,
                    start_timeout_s: float = 60.0) -> MixedResult:
    """Run the clients for ``duration_s`` once ``longs_first`` long requests are running."""
    result = MixedResult(shorts=[[] for _ in range(short_clients)])
    limits = httpx.Limits(max_connections=long_clients + short_clients + 4)
    running = asyncio.Event()
    end = math.inf

    async def long_client(http: httpx.AsyncClient, k: int) -> None:
        body = {"input": long_text, "voice": "af_heart", "response_format": "pcm", "seed": k}
        while time.monotonic() < end:
            async with http.stream("POST", "/v1/audio/speech", json=body) as r:
                if r.status_code == 429:
                    result.long_refusals += 1
                    await _retry_wait(r, end)
                    continue
                result.long_admitted += 1
                if result.long_admitted >= longs_first:
                    running.set()
                async for _ in r.aiter_raw():
                    if time.monotonic() >= end:
                        return

    async def short_client(http: httpx.AsyncClient, k: int) -> None:
        body = {"input": short_text, "voice": "am_adam", "response_format": "pcm", "seed": 100 + k}
        while time.monotonic() < end:
            began, tries = time.monotonic(), 0
            while time.monotonic() < end:
                tries += 1
                async with http.stream("POST", "/v1/audio/speech", json=body) as r:
                    if r.status_code == 429:
                        result.short_refusals += 1
                        result.retry_after.append(int(r.headers["retry-after"]))
                        await _retry_wait(r, end)
                        continue
                    assert r.status_code == 200, await r.aread()
                    heard = False
                    async for chunk in r.aiter_raw():
                        if chunk and not heard:
                            heard = True
                            result.shorts[k].append(ShortRequest(time.monotonic() - began, tries))
                    break

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        longs = [asyncio.create_task(long_client(http, k)) for k in range(long_clients)]
        try:
            await asyncio.wait_for(running.wait(), start_timeout_s)
            end = time.monotonic() + duration_s
            await asyncio.gather(*(short_client(http, k) for k in range(short_clients)))
        finally:
            for task in longs:
                task.cancel()
            await asyncio.gather(*longs, return_exceptions=True)
    return result
