#!/usr/bin/env python
"""Speech while an LLM is still writing: the WebSocket route against the two ways clients use HTTP today.

    python bench/realtime.py [--model-dir DIR | --url URL] [--rates 10,20,40] [--clients 8] [--json PATH] [--quick]

A simulated LLM writes a ~150-word assistant reply (``REPLY``) as tokens (``llm_tokens``: word pieces with
their leading space, punctuation as tokens of its own, numbers in groups of up to 3 digits), one every
1/rate seconds. Three clients speak it, one after another on the same server, pcm 24 kHz s16 mono:

  * ``socket``: ``WS /v1/audio/speech/stream``, already connected; ``start`` when the first token comes, a
    ``text`` message per token, ``end`` after the last.
  * ``http-A``: one streamed ``POST /v1/audio/speech`` per sentence, sent as soon as the sentence is
    complete (when the text after its final punctuation begins, the rule the socket speaks by: before
    that a client cannot tell ``3.`` from ``3.14``), the answers played in order.
  * ``http-B``: one streamed ``POST`` with the whole reply once it is complete.

Every request and context carries a fresh ``seed``: the chunk cache (on, as by default) only serves chunks
made with the same seed, so every chunk runs the model. A client told 429 waits its ``Retry-After`` and asks
again; a socket context refused with ``retry_after_s`` is started again after it with the text not yet
spoken (``SocketContext``). Both waits are counted (the ``429s`` column).

Measured, with a player that starts at the first audio byte and plays 48000 bytes a second:

  * ``first audio``: from the token that ends the first sentence to the first audio byte (target for the
    socket: <= 0.6 s at every rate);
  * ``stalls``: seconds that player runs out of audio (target for the socket: 0 at 20 tok/s);
  * ``tail``: from the last token to the last audio byte;
  * barge-in (at ``--concurrent-rate``): ``cancel`` half-way through the reply, then seconds to the
    context's last audio byte and to its ``done``; right after the cancel a new context (the reply's first
    two sentences) starts, and its first audio is timed as above. For http-A the client closes its
    streams instead (its last byte is at the cancel by construction) and POSTs the new reply's
    sentences; http-B has nothing in flight half-way through a reply.
  * ``--clients`` concurrent clients of each kind at ``--concurrent-rate``: first audio p50/p95, stalls
    p50/max over the clients, and the latency of ``GET /health`` probed every 100 ms meanwhile
    (p50/p99/max).

Without ``--url`` a server is started (``ServerProcess``: uvicorn in a child process, the default
settings, so the default engine, and TORCH_THREADS=2; tcmalloc preloaded when installed, as
scripts/run.sh does) on ``--model-dir`` or ``$MODEL_DIR``: real v1.0 weights
(``../shared/realweights/build.sh OUT_DIR`` builds them offline; use ``OUT_DIR``). Before the measured
runs one reply of each kind warms the server up (the text workers start on first use). The client kinds
run one after another (``--kinds``; ``--concurrent-kinds`` for the concurrent runs). ``--quick`` is a
smoke run: three sentences at 40 tok/s, 2 clients.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import httpx
from websockets.asyncio.client import connect as ws_connect

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from tests.support.server import ServerProcess, free_port  # noqa: E402  (one server helper with the tests)

LOG_DIR = REPO_ROOT / "bench" / ".cache" / "logs"
# scripts/run.sh (and the images) start the server with tcmalloc preloaded when it is installed: so does this
TCMALLOC = ("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
            "/usr/lib64/libtcmalloc_minimal.so.4", "/usr/lib/libtcmalloc_minimal.so.4")
BYTES_PER_SECOND = 48_000   # pcm: 24 kHz, 16-bit, mono
VOICE = "af_heart"
HEALTH_PERIOD_S = 0.1

# An assistant's answer: sentences of different lengths, a few numbers, no abbreviations (a client's
# sentence splitter and the server's agree on where every sentence ends).
REPLY = (
    "Sure, here is a simple plan for two days in Lisbon. "
    "Start the first morning in Alfama, where narrow streets climb toward the castle and every corner "
    "opens onto the river. "
    "Go early, because the old trams get crowded after ten. "
    "For lunch, find a small family restaurant; a full meal with wine costs around 15 euros. "
    "In the afternoon, take the tram west to Belém. "
    "The monastery there is stunning, and the bakery next door has made custard tarts since 1837. "
    "Expect a line, but it moves quickly. "
    "If it rains, the tile museum and the old market hall are both good places to spend an hour or two. "
    "On the second day, catch the train to Sintra, which takes about 40 minutes from the city centre. "
    "Buy your palace tickets online the night before, since the queues at the gate can be long in summer. "
    "Wear comfortable shoes! "
    "Would you like a few restaurant suggestions as well?"
)

_PIECES = re.compile(r" ?[^\W\d_]+|'[^\W\d_]+| ?\d{1,3}| ?[^\w\s]|\s+")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")


def llm_tokens(text: str) -> list[str]:
    """``text`` as an LLM's tokenizer would emit it: words with their leading space (long ones in pieces of
    at most 5 characters after the first), ``'s`` on its own, digits in groups of up to 3, each punctuation
    mark a token. Joined, the tokens are ``text``."""
    tokens: list[str] = []
    for piece in _PIECES.findall(text):
        core = piece.lstrip(" ")
        if core.isalpha() and len(core) > 6:
            head = len(piece) - len(core) + 4
            tokens.append(piece[:head])
            tokens.extend(piece[i:i + 5] for i in range(head, len(piece), 5))
        else:
            tokens.append(piece)
    assert "".join(tokens) == text, "the tokens must join back into the text"
    return tokens


def sentence_ends(tokens: list[str]) -> list[int]:
    """Indexes of the tokens that end a sentence: a final mark followed by a token that starts with
    whitespace, or the last token."""
    ends = [i for i in range(len(tokens) - 1)
            if _SENTENCE_END.search(tokens[i]) and tokens[i + 1][:1].isspace()]
    return [*ends, len(tokens) - 1]


def first_sentences(text: str, n: int) -> str:
    tokens = llm_tokens(text)
    return "".join(tokens[:sentence_ends(tokens)[n - 1] + 1])


# -- what one client saw ---------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> Optional[float]:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Trace:
    """One reply spoken for one client: when its tokens were written and when its audio arrived, in
    seconds of ``time.perf_counter()``. ``segments``: the audio in playing order, each a list of (arrival,
    bytes) in arrival order (one segment per HTTP answer; a socket context is one)."""
    token_times: list[float] = field(default_factory=list)
    first_sentence_token: int = 0
    segments: list[list[tuple[float, int]]] = field(default_factory=list)
    refusals: int = 0                    # 429s waited out
    errors: list[str] = field(default_factory=list)
    cancel_t: Optional[float] = None
    done_t: Optional[float] = None
    done_reason: Optional[str] = None
    started_t: Optional[float] = None    # when its first token was written (or its start sent)
    token_lateness: float = 0.0          # the latest a token was written after its time (this process's lag)

    def arrivals(self) -> list[tuple[float, int]]:
        return [a for segment in self.segments for a in segment]

    def audio_bytes(self) -> int:
        return sum(n for _, n in self.arrivals())

    def first_audio_t(self) -> Optional[float]:
        for segment in self.segments:   # the player's first byte: the first of the first answer to play
            if segment:
                return segment[0][0]
        return None

    def last_audio_t(self) -> Optional[float]:
        times = [t for t, _ in self.arrivals()]
        return max(times) if times else None

    def first_sentence_t(self) -> Optional[float]:
        if len(self.token_times) > self.first_sentence_token:
            return self.token_times[self.first_sentence_token]
        return None

    def stalls(self) -> Optional[float]:
        """Seconds a player that starts at the first audio byte, playing the segments in order at
        ``BYTES_PER_SECOND``, waits for audio that has not arrived yet."""
        if self.first_audio_t() is None:
            return None
        playing_until, stalled = self.first_audio_t(), 0.0
        for t, n in self.arrivals():
            if t > playing_until:
                stalled += t - playing_until
                playing_until = t
            playing_until += n / BYTES_PER_SECOND
        return stalled

    def summary(self) -> dict[str, Any]:
        first, last, sentence = self.first_audio_t(), self.last_audio_t(), self.first_sentence_t()
        out: dict[str, Any] = {
            "first_audio_s": None if first is None or sentence is None else first - sentence,
            "first_audio_from_start_s": None if first is None or self.started_t is None else first - self.started_t,
            "stalls_s": self.stalls(),
            "tail_s": None if last is None or not self.token_times else last - self.token_times[-1],
            "audio_s": self.audio_bytes() / BYTES_PER_SECOND,
            "tokens_written_s": (self.token_times[-1] - self.token_times[0]) if self.token_times else None,
            "token_lateness_max_s": self.token_lateness,
            "refusals": self.refusals,
            "errors": self.errors,
        }
        if self.cancel_t is not None:
            out["cancel_to_last_audio_s"] = max(0.0, (last or self.cancel_t) - self.cancel_t)
            out["cancel_to_done_s"] = None if self.done_t is None else self.done_t - self.cancel_t
            out["audio_after_cancel_s"] = sum(n for t, n in self.arrivals() if t > self.cancel_t) / BYTES_PER_SECOND
            out["done_reason"] = self.done_reason
        return out


async def write_tokens(tokens: list[str], rate: float, trace: Trace, send, stop_after: Optional[int] = None) -> None:
    """Write ``tokens`` at ``rate`` a second through ``send(index, token)``, on a fixed schedule (a late
    token does not delay the next ones); ``stop_after``: the index of the last token written."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    last = len(tokens) - 1 if stop_after is None else stop_after
    for i, token in enumerate(tokens[:last + 1]):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        trace.token_lateness = max(trace.token_lateness, loop.time() - (t0 + i / rate))
        trace.token_times.append(time.perf_counter())
        await send(i, token)


# -- the WebSocket route -----------------------------------------------------------------------------------
class Socket:
    """One WebSocket to the server, its messages read by a task that hands each context's audio (an
    ``audio`` message, then its binary frame), words, ``done`` and ``error`` to that ``SocketContext``."""

    def __init__(self, url: str):
        self.url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/v1/audio/speech/stream"
        self.ws = None
        self.contexts: dict[str, SocketContext] = {}
        self.reader: Optional[asyncio.Task] = None
        self.extensions: list[str] = []

    async def __aenter__(self) -> "Socket":
        self.ws = await ws_connect(self.url, max_size=None, ping_interval=None, open_timeout=30)
        self.extensions = [type(e).__name__ for e in (self.ws.protocol.extensions or [])]
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        if self.reader:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)

    async def send(self, **message) -> None:
        await self.ws.send(json.dumps(message))

    def context(self, context_id: str, trace: Trace, voice: str, rng: random.Random) -> "SocketContext":
        self.contexts[context_id] = SocketContext(self, context_id, trace, voice, rng)
        return self.contexts[context_id]

    async def _read(self) -> None:
        audio_for: Optional[SocketContext] = None
        try:
            async for message in self.ws:
                now = time.perf_counter()
                if isinstance(message, bytes):
                    if audio_for is not None:
                        audio_for.trace.segments[-1].append((now, len(message)))
                    audio_for = None
                    continue
                msg = json.loads(message)
                context = self.contexts.get(msg.get("context_id"))
                if msg["type"] == "audio" and context is not None:
                    context.heard(msg.get("words") or [])
                    audio_for = context
                    if "audio" in msg:   # base64: no binary frame
                        context.trace.segments[-1].append((now, int(msg.get("bytes") or 0)))
                        audio_for = None
                elif msg["type"] == "done" and context is not None:
                    context.over(now, msg.get("reason"))
                elif msg["type"] == "error":
                    error = msg.get("error") or {}
                    text = f"{error.get('code') or error.get('type')}: {error.get('message')}"
                    if context is not None and msg.get("retry_after_s") is not None:
                        context.refused(now, float(msg["retry_after_s"]))
                    elif context is not None:
                        context.trace.errors.append(text)
                        context.over(now, "error")
                    elif error.get("code") != "unknown_context":   # (text that crossed a refusal on the wire)
                        for c in self.contexts.values():
                            c.trace.errors.append(f"socket: {text}")
            reason = f"socket closed: {self.ws.close_code} {self.ws.close_reason}"
        except Exception as exc:
            reason = f"socket closed: {exc!r}"
        for context in self.contexts.values():   # the socket is gone: every open context is over
            if not context.finished:
                context.trace.errors.append(reason)
                context.over(time.perf_counter(), "error")


class SocketContext:
    """One reply on a socket, as a robust client speaks it: a context refused for load (an ``error`` with
    ``retry_after_s``: it is over, its unspoken text dropped) is started again after that wait with the
    text not yet spoken (the words' ``text_end`` say how far it got) and goes on; the waits count as
    refusals, like an HTTP client's 429s."""

    def __init__(self, sock: Socket, context_id: str, trace: Trace, voice: str, rng: random.Random):
        self.sock, self.id, self.trace, self.voice, self.rng = sock, context_id, trace, voice, rng
        self.written = ""                 # the reply's text written so far
        self.base = 0                     # where in it the open context's text begins
        self.spoken = 0                   # how much of it has been spoken
        self.open = False
        self.ending = False
        self.finished = False
        self.retry_at: Optional[float] = None
        self.changed = asyncio.Event()    # done, refused or failed

    # the server's side, from the reader
    def heard(self, words: list[dict]) -> None:
        ends = [w.get("text_end") for w in words if isinstance(w.get("text_end"), int)]
        if ends:
            self.spoken = max(self.spoken, self.base + max(ends))

    def refused(self, now: float, retry_after_s: float) -> None:
        self.open = False
        self.retry_at = now + retry_after_s
        self.trace.refusals += 1
        self.changed.set()

    def over(self, now: float, reason: Optional[str]) -> None:
        self.open, self.finished = False, True
        self.trace.done_t, self.trace.done_reason = now, reason
        self.changed.set()

    # the client's side
    async def _start(self) -> None:
        self.base = self.spoken
        self.open = True
        self.trace.segments.append([])
        if self.trace.started_t is None:
            self.trace.started_t = time.perf_counter()
        await self.sock.send(type="start", context_id=self.id, voice=self.voice, response_format="pcm",
                             seed=self.rng.randrange(1, 2**31))
        if self.written[self.base:]:
            await self.sock.send(type="text", context_id=self.id, text=self.written[self.base:])
        if self.ending:
            await self.sock.send(type="end", context_id=self.id)

    async def write(self, token: str) -> None:
        self.written += token
        if self.open:
            await self.sock.send(type="text", context_id=self.id, text=token)
        elif self.finished:
            return
        elif self.retry_at is None or time.perf_counter() >= self.retry_at:   # the first, or a retry
            self.retry_at = None
            await self._start()

    async def end(self, timeout: float) -> None:
        """``end``, then wait for ``done``, starting again after each refusal."""
        deadline = time.perf_counter() + timeout
        self.ending = True
        if self.open:
            await self.sock.send(type="end", context_id=self.id)
        while not self.finished:
            if not self.open:
                await asyncio.sleep(max(0.0, (self.retry_at or 0) - time.perf_counter()))
                self.retry_at = None
                self.changed.clear()
                await self._start()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.perf_counter()))
            except TimeoutError:
                self.trace.errors.append(f"no done within {timeout:.0f} s")
                return
            self.changed.clear()

    async def cancel(self) -> None:
        self.trace.cancel_t = time.perf_counter()
        self.ending = True
        if self.open:
            await self.sock.send(type="cancel", context_id=self.id)
        else:
            self.over(self.trace.cancel_t, "cancelled (while refused)")


async def socket_reply(url: str, tokens: list[str], rate: float, voice: str, rng: random.Random,
                       timeout: float) -> tuple[Trace, list[str]]:
    trace = Trace(first_sentence_token=sentence_ends(tokens)[0])
    async with Socket(url) as sock:
        context = sock.context("reply", trace, voice, rng)
        await write_tokens(tokens, rate, trace, lambda i, token: context.write(token))
        await context.end(timeout)
        return trace, sock.extensions


async def socket_barge_in(url: str, tokens: list[str], next_tokens: list[str], rate: float, voice: str,
                          rng: random.Random, timeout: float) -> tuple[Trace, Trace]:
    """``cancel`` after half the reply's tokens, then at once a new context with ``next_tokens``."""
    first = Trace(first_sentence_token=sentence_ends(tokens)[0])
    second = Trace(first_sentence_token=sentence_ends(next_tokens)[0])
    async with Socket(url) as sock:
        one, two = sock.context("reply-1", first, voice, rng), sock.context("reply-2", second, voice, rng)
        await write_tokens(tokens, rate, first, lambda i, token: one.write(token), stop_after=len(tokens) // 2)
        await one.cancel()
        await write_tokens(next_tokens, rate, second, lambda i, token: two.write(token))
        await two.end(timeout)
        try:
            await asyncio.wait_for(one.changed.wait(), timeout)
        except TimeoutError:
            first.errors.append(f"no done within {timeout:.0f} s of the cancel")
    return first, second


# -- the HTTP route ------------------------------------------------------------------------------------------
async def post_speech(client: httpx.AsyncClient, text: str, voice: str, seed: int, trace: Trace,
                      segment: list[tuple[float, int]]) -> None:
    """One streamed ``POST /v1/audio/speech`` (pcm) whose body's arrivals go to ``segment``; a 429 is
    waited out (its ``Retry-After``) and asked again."""
    body = {"model": "kokoro", "input": text, "voice": voice, "response_format": "pcm", "stream": True,
            "seed": seed}
    while True:
        async with client.stream("POST", "/v1/audio/speech", json=body) as response:
            if response.status_code == 429:
                trace.refusals += 1
                await response.aread()
                await asyncio.sleep(float(response.headers.get("retry-after") or 1))
                continue
            if response.status_code != 200:
                trace.errors.append(f"HTTP {response.status_code}: {(await response.aread())[:200]!r}")
                return
            async for chunk in response.aiter_raw():
                segment.append((time.perf_counter(), len(chunk)))
            return


class SentenceClient:
    """http-A: a POST per sentence as soon as the sentence is complete (the text after its final mark
    begins, or the reply ends), every answer read as it streams."""

    def __init__(self, client: httpx.AsyncClient, tokens: list[str], trace: Trace, voice: str, rng: random.Random):
        self.client, self.trace, self.voice, self.rng = client, trace, voice, rng
        self.ends = set(sentence_ends(tokens))
        self.buffer = ""
        self.tasks: list[asyncio.Task] = []

    def _post(self, text: str) -> None:
        segment: list[tuple[float, int]] = []
        self.trace.segments.append(segment)
        self.tasks.append(asyncio.create_task(
            post_speech(self.client, text.strip(), self.voice, self.rng.randrange(1, 2**31), self.trace, segment)))

    async def send(self, i: int, token: str) -> None:
        if i == 0:
            self.trace.started_t = time.perf_counter()
        if (i - 1) in self.ends and self.buffer.strip():   # this token begins the next sentence
            self._post(self.buffer)
            self.buffer = ""
        self.buffer += token

    async def finish(self) -> None:
        if self.buffer.strip():
            self._post(self.buffer)
            self.buffer = ""
        await asyncio.gather(*self.tasks)

    async def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks, self.buffer = [], ""


def http_client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(600, connect=30),
                             limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))


async def sentences_reply(url: str, tokens: list[str], rate: float, voice: str, rng: random.Random) -> Trace:
    trace = Trace(first_sentence_token=sentence_ends(tokens)[0])
    async with http_client(url) as client:
        await client.get("/health")   # a connection already open, as a client's pool has
        sentences = SentenceClient(client, tokens, trace, voice, rng)
        await write_tokens(tokens, rate, trace, sentences.send)
        await sentences.finish()
    return trace


async def whole_reply(url: str, tokens: list[str], rate: float, voice: str, rng: random.Random) -> Trace:
    trace = Trace(first_sentence_token=sentence_ends(tokens)[0])
    async with http_client(url) as client:
        await client.get("/health")

        async def send(i: int, token: str) -> None:
            if i == 0:
                trace.started_t = time.perf_counter()
        await write_tokens(tokens, rate, trace, send)
        trace.segments.append([])
        await post_speech(client, "".join(tokens), voice, rng.randrange(1, 2**31), trace, trace.segments[0])
    return trace


async def sentences_barge_in(url: str, tokens: list[str], next_tokens: list[str], rate: float, voice: str,
                             rng: random.Random) -> tuple[Trace, Trace]:
    first = Trace(first_sentence_token=sentence_ends(tokens)[0])
    second = Trace(first_sentence_token=sentence_ends(next_tokens)[0])
    async with http_client(url) as client:
        await client.get("/health")
        one = SentenceClient(client, tokens, first, voice, rng)
        await write_tokens(tokens, rate, first, one.send, stop_after=len(tokens) // 2)
        first.cancel_t = time.perf_counter()
        await one.cancel()
        first.done_t, first.done_reason = time.perf_counter(), "closed"
        two = SentenceClient(client, next_tokens, second, voice, rng)
        await write_tokens(next_tokens, rate, second, two.send)
        await two.finish()
    return first, second


# -- the Wyoming server (issue 24) --------------------------------------------------------------------------
async def wyoming_reply(address: str, tokens: list[str], rate: float, voice: str, rng: random.Random,
                        timeout: float = 600) -> Trace:
    """One streamed reply as Home Assistant sends it: synthesize-start, a synthesize-chunk per token as the
    LLM writes it, synthesize-stop; the audio-chunks' arrivals until synthesize-stopped."""
    from wyoming.audio import AudioChunk
    from wyoming.client import AsyncTcpClient
    from wyoming.error import Error
    from wyoming.tts import SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

    host, _, port = address.rpartition(":")
    trace = Trace(first_sentence_token=sentence_ends(tokens)[0])
    trace.segments.append([])
    async with AsyncTcpClient(host, int(port)) as client:
        async def read() -> None:
            while True:
                event = await client.read_event()
                if event is None:
                    trace.errors.append("wyoming: the server closed the connection")
                    return
                if AudioChunk.is_type(event.type):
                    trace.segments[0].append((time.perf_counter(), len(AudioChunk.from_event(event).audio)))
                elif Error.is_type(event.type):
                    trace.errors.append(f"wyoming: {Error.from_event(event).text}")
                elif SynthesizeStopped.is_type(event.type):
                    trace.done_t, trace.done_reason = time.perf_counter(), "end"
                    return

        reader = asyncio.create_task(read())
        trace.started_t = time.perf_counter()
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name=voice)).event())

        async def send(i: int, token: str) -> None:
            await client.write_event(SynthesizeChunk(text=token).event())

        await write_tokens(tokens, rate, trace, send)
        await client.write_event(SynthesizeStop().event())
        await asyncio.wait_for(reader, timeout)
    return trace


# -- scenarios ------------------------------------------------------------------------------------------------
KINDS = ("socket", "http-A", "http-B", "wyoming")
PHASES = ("runs", "barge-in", "concurrent")
KIND_NAMES = {"socket": "socket", "http-A": "HTTP A (POST per sentence)", "http-B": "HTTP B (POST whole reply)",
              "wyoming": "Wyoming (streamed)"}
WYOMING: dict[str, str] = {}   # "address": host:port of the server's Wyoming port, when it has one


async def one_reply(kind: str, url: str, tokens: list[str], rate: float, voice: str, rng: random.Random,
                    info: dict) -> Trace:
    if kind == "socket":
        trace, extensions = await socket_reply(url, tokens, rate, voice, rng, timeout=600)
        info["socket_extensions"] = extensions
        return trace
    if kind == "http-A":
        return await sentences_reply(url, tokens, rate, voice, rng)
    if kind == "wyoming":
        return await wyoming_reply(WYOMING["address"], tokens, rate, voice, rng)
    return await whole_reply(url, tokens, rate, voice, rng)


class HealthProbe:
    """``GET /health`` every ``HEALTH_PERIOD_S`` (at once again when one took longer), each on a new
    connection as an orchestrator's probe, from a thread of its own: the latencies are the server's, not
    this process's event loop's."""

    def __init__(self, url: str):
        self.url = url + "/health"
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
        while not self._stop.is_set():
            t = time.perf_counter()
            try:
                response = client.get(self.url)
                self.latencies.append(time.perf_counter() - t)
                if response.status_code != 200:
                    self.failures.append(f"/health: HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                self.failures.append(f"/health: {exc!r}")
            next_at = max(next_at + HEALTH_PERIOD_S, time.monotonic())
            self._stop.wait(next_at - time.monotonic())
        client.close()

    def __enter__(self) -> "HealthProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def concurrent(kind: str, url: str, tokens: list[str], rate: float, clients: int, voice: str,
                     rng: random.Random, info: dict) -> dict[str, Any]:
    with HealthProbe(url) as probe:
        traces = await asyncio.gather(*(one_reply(kind, url, tokens, rate, voice, rng, info) for _ in range(clients)))
    latencies, failures = probe.latencies, probe.failures
    summaries = [t.summary() for t in traces]
    first = [s["first_audio_s"] for s in summaries]
    stalls = [s["stalls_s"] for s in summaries]
    return {
        "kind": kind, "clients": clients, "rate": rate,
        "first_audio_p50_s": percentile(first, 50), "first_audio_p95_s": percentile(first, 95),
        "stalls_p50_s": percentile(stalls, 50), "stalls_max_s": percentile(stalls, 100),
        "tail_p50_s": percentile([s["tail_s"] for s in summaries], 50),
        "health_p50_s": percentile(latencies, 50), "health_p99_s": percentile(latencies, 99),
        "health_max_s": percentile(latencies, 100), "health_probes": len(latencies), "health_failures": failures,
        "refusals": sum(s["refusals"] for s in summaries),
        "errors": [e for s in summaries for e in s["errors"]],
        "per_client": summaries,
    }


async def run_all(url: str, args, reply: str, info: dict, save=lambda out: None) -> dict[str, Any]:
    """Every run; ``save(out)`` after each, with what is measured so far."""
    rng = random.Random(args.seed)
    tokens = llm_tokens(reply)
    next_tokens = llm_tokens(first_sentences(reply, 2))
    kinds = [k for k in KINDS if k in args.kinds]
    out: dict[str, Any] = {"runs": [], "barge_in": [], "concurrent": []}

    print("warming up (one short reply of each kind) ...", flush=True)
    for kind in kinds:
        await one_reply(kind, url, next_tokens, 40, args.voice, rng, info)

    for r, rate in enumerate(args.rates if "runs" in args.phases else []):
        order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]   # each kind first at some rate
        for kind in order:
            trace = await one_reply(kind, url, tokens, rate, args.voice, rng, info)
            row = {"kind": kind, "rate": rate, **trace.summary()}
            out["runs"].append(row)
            save(out)
            print(f"  {rate:g} tok/s {kind}: first audio {fmt(row['first_audio_s'])} s, stalls "
                  f"{fmt(row['stalls_s'])} s, tail {fmt(row['tail_s'])} s, audio {fmt(row['audio_s'], 1)} s"
                  + (f", errors {row['errors']}" if row["errors"] else ""), flush=True)
            await asyncio.sleep(args.pause)

    rate = args.concurrent_rate
    if "socket" in kinds and "barge-in" in args.phases:
        cancelled, after = await socket_barge_in(url, tokens, next_tokens, rate, args.voice, rng, timeout=600)
        out["barge_in"].append(barge_row("socket", rate, cancelled, after))
        save(out)
        await asyncio.sleep(args.pause)
    if "http-A" in kinds and "barge-in" in args.phases:
        cancelled, after = await sentences_barge_in(url, tokens, next_tokens, rate, args.voice, rng)
        out["barge_in"].append(barge_row("http-A", rate, cancelled, after))
        save(out)
        await asyncio.sleep(args.pause)
    for row in out["barge_in"]:
        print(f"  barge-in {row['kind']}: cancel -> done {fmt(row['cancel_to_done_s'])} s, next reply first audio "
              f"{fmt(row['next_first_audio_s'])} s", flush=True)

    for kind in [k for k in KINDS if k in args.concurrent_kinds and "concurrent" in args.phases]:
        row = await concurrent(kind, url, tokens, rate, args.clients, args.voice, rng, info)
        out["concurrent"].append(row)
        save(out)
        print(f"  {args.clients} x {kind} at {rate:g} tok/s: first audio p50 {fmt(row['first_audio_p50_s'])} s "
              f"p95 {fmt(row['first_audio_p95_s'])} s, stalls max {fmt(row['stalls_max_s'])} s, /health p99 "
              f"{fmt(row['health_p99_s'], 3)} s", flush=True)
        await asyncio.sleep(args.pause)
    return out


def barge_row(kind: str, rate: float, cancelled: Trace, after: Trace) -> dict[str, Any]:
    first, second = cancelled.summary(), after.summary()
    return {"kind": kind, "rate": rate,
            "cancel_to_last_audio_s": first["cancel_to_last_audio_s"], "cancel_to_done_s": first["cancel_to_done_s"],
            "audio_after_cancel_s": first["audio_after_cancel_s"], "done_reason": first["done_reason"],
            "next_first_audio_s": second["first_audio_s"],
            "next_first_audio_from_start_s": second["first_audio_from_start_s"],
            "next_stalls_s": second["stalls_s"], "next_done_reason": second.get("done_reason") or after.done_reason,
            "errors": first["errors"] + second["errors"]}


# -- report ---------------------------------------------------------------------------------------------------
def fmt(value: Optional[float], digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    started = meta["started_server"]   # else the server's threads and allocator are not known here
    lines = [f"Reply: {meta['reply_words']} words, {meta['reply_tokens']} tokens, {meta['reply_sentences']} sentences; "
             f"voice {meta['voice']}, pcm; server: engine {meta.get('engine')}, device {meta.get('device')}, "
             f"TORCH_THREADS {meta.get('torch_threads') if started else '?'}, "
             f"LD_PRELOAD {meta.get('ld_preload') if started else '?'}; "
             f"load average at start {meta['load_average_start']}, at end {meta.get('load_average_end')}."
             + (" A run cut short: the runs it finished." if result.get("partial") else ""), "",
             "| tok/s | client | 1st sentence → 1st audio (s) | stalls (s) | last token → last audio (s) "
             "| audio (s) | 429s | errors |",
             "|---:|---|---:|---:|---:|---:|---:|---|"]
    for row in sorted(result["runs"], key=lambda r: (r["rate"], KINDS.index(r["kind"]))):
        lines.append(f"| {row['rate']:g} | {KIND_NAMES[row['kind']]} | {fmt(row['first_audio_s'])} | "
                     f"{fmt(row['stalls_s'])} | {fmt(row['tail_s'])} | {fmt(row['audio_s'], 1)} | {row['refusals']} | "
                     f"{len(row['errors']) or ''} |")
    if result["barge_in"]:
        lines += ["", "Barge-in: cancel half-way through the reply, then at once a new one (its first two sentences).",
                  "",
                  "| tok/s | client | cancel → last audio byte (s) | cancel → done (s) | audio after cancel (s) "
                  "| next reply: 1st sentence → 1st audio (s) | errors |", "|---:|---|---:|---:|---:|---:|---|"]
        for row in result["barge_in"]:
            lines.append(f"| {row['rate']:g} | {KIND_NAMES[row['kind']]} | {fmt(row['cancel_to_last_audio_s'])} | "
                         f"{fmt(row['cancel_to_done_s'])} | {fmt(row['audio_after_cancel_s'])} | "
                         f"{fmt(row['next_first_audio_s'])} | {len(row['errors']) or ''} |")
        if "http-B" in meta["kinds"]:
            lines.append("| – | " + KIND_NAMES["http-B"] + " | – | – | – | – | nothing in flight half-way |")
    if result["concurrent"]:
        lines += ["", "| clients × tok/s | client | 1st audio p50 (s) | p95 (s) | stalls p50 (s) | stalls max (s) "
                  "| /health p50 (ms) | p99 (ms) | max (ms) | 429s | errors |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for row in result["concurrent"]:
            ms = {k: None if row[k] is None else row[k] * 1000
                  for k in ("health_p50_s", "health_p99_s", "health_max_s")}
            lines.append(f"| {row['clients']} × {row['rate']:g} | {KIND_NAMES[row['kind']]} | "
                         f"{fmt(row['first_audio_p50_s'])} | {fmt(row['first_audio_p95_s'])} | "
                         f"{fmt(row['stalls_p50_s'])} | {fmt(row['stalls_max_s'])} | {fmt(ms['health_p50_s'], 0)} | "
                         f"{fmt(ms['health_p99_s'], 0)} | {fmt(ms['health_max_s'], 0)} | {row['refusals']} | "
                         f"{(len(row['errors']) + len(row['health_failures'])) or ''} |")
    targets = targets_met(result)
    if targets:
        lines += ["", "Targets (socket): " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets)]
    return "\n".join(lines)


def targets_met(result: dict[str, Any]) -> list[tuple[str, bool]]:
    socket = [r for r in result["runs"] if r["kind"] == "socket"]
    out = []
    if socket:
        out.append(("1st audio <= 0.6 s at every rate",
                    all(r["first_audio_s"] is not None and r["first_audio_s"] <= 0.6 for r in socket)))
    at20 = [r for r in socket if r["rate"] == 20]
    if at20:
        out.append(("no stalls at 20 tok/s", all(r["stalls_s"] == 0 for r in at20)))
    return out


def errors_of(result: dict[str, Any]) -> list[str]:
    rows = result["runs"] + result["barge_in"] + result["concurrent"]
    return [e for row in rows for e in row["errors"]]


# -- main -----------------------------------------------------------------------------------------------------
def load_average() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def parse_floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running server (else one is started on --model-dir)")
    parser.add_argument("--wyoming", metavar="HOST:PORT", help="the running server's Wyoming port (kind "
                        "'wyoming'; a server this bench starts gets one)")
    parser.add_argument("--model-dir", type=Path, default=os.environ.get("MODEL_DIR"),
                        help="MODEL_DIR with real v1.0 weights (default: $MODEL_DIR)")
    parser.add_argument("--rates", type=parse_floats, default=None, help="tokens per second (default 10,20,40)")
    parser.add_argument("--clients", type=int, default=None, help="concurrent clients (default 8)")
    parser.add_argument("--concurrent-rate", type=float, default=20.0, help="tok/s of barge-in and concurrency")
    parser.add_argument("--kinds", type=lambda s: [k.strip() for k in s.split(",")], default=list(KINDS),
                        help="which clients: socket,http-A,http-B,wyoming (wyoming: with --wyoming, or a server this "
                        "bench starts)")
    parser.add_argument("--concurrent-kinds", type=lambda s: [k.strip() for k in s.split(",")], default=None,
                        help="which clients run --clients at once (default: those of --kinds)")
    parser.add_argument("--phases", type=lambda s: [k.strip() for k in s.split(",")], default=list(PHASES),
                        help="which parts: runs,barge-in,concurrent")
    parser.add_argument("--voice", default=VOICE)
    parser.add_argument("--seed", type=int, default=None, help="the seeds' generator (default: random)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 sentences at 40 tok/s, 2 clients")
    parser.add_argument("--report", type=Path, metavar="JSON", help="only print the tables of a saved --json "
                        "(one cut short too)")
    args = parser.parse_args(argv)
    if args.report:
        print(markdown(json.loads(args.report.read_text())))
        return 0
    args.concurrent_kinds = args.kinds if args.concurrent_kinds is None else args.concurrent_kinds
    unknown = set(args.kinds + args.concurrent_kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown --kinds {sorted(unknown)}; choose from {','.join(KINDS)}")
    if set(args.phases) - set(PHASES):
        parser.error(f"unknown --phases {sorted(set(args.phases) - set(PHASES))}; choose from {','.join(PHASES)}")
    reply = first_sentences(REPLY, 3) if args.quick else REPLY
    args.rates = args.rates or ([40.0] if args.quick else [10.0, 20.0, 40.0])
    args.clients = args.clients or (2 if args.quick else 8)
    if args.quick:
        args.pause = min(args.pause, 0.2)
        args.concurrent_rate = 40.0 if args.concurrent_rate == 20.0 else args.concurrent_rate

    server = None
    url = args.url
    if url is None:
        if args.model_dir is None:
            parser.error("give --url, or --model-dir (or $MODEL_DIR) with real v1.0 weights: "
                         "bash ../shared/realweights/build.sh OUT_DIR builds them offline")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        print(f"starting a server on {args.model_dir} ...", flush=True)
        wyoming_port = free_port()
        # no chunk cache: Wyoming carries no seed, so a reply spoken twice (the warm-up's sentences) would
        # be answered from the cache; the other clients send a fresh seed each time
        server = ServerProcess(Path(args.model_dir), LOG_DIR / "realtime.log", log_level="WARNING",
                               wyoming_port=wyoming_port, chunk_cache_mb=0)
        args.wyoming = f"127.0.0.1:{wyoming_port}"
        tcmalloc = next((lib for lib in TCMALLOC if os.path.isfile(lib)), None)
        if tcmalloc and tcmalloc not in server.env.get("LD_PRELOAD", ""):
            server.env["LD_PRELOAD"] = ":".join(x for x in (server.env.get("LD_PRELOAD"), tcmalloc) if x)
        server.start(timeout=600)
        url = server.url
    url = url.rstrip("/")
    if args.wyoming:
        WYOMING["address"] = args.wyoming
    elif "wyoming" in args.kinds + args.concurrent_kinds:
        args.kinds = [k for k in args.kinds if k != "wyoming"]
        args.concurrent_kinds = [k for k in args.concurrent_kinds if k != "wyoming"]
        print("no --wyoming address: the Wyoming rows are left out", flush=True)
    tokens = llm_tokens(reply)
    meta: dict[str, Any] = {
        "url": url, "started_server": server is not None, "kinds": args.kinds, "phases": args.phases,
        "voice": args.voice,
        "rates": args.rates, "clients": args.clients, "concurrent_kinds": args.concurrent_kinds,
        "concurrent_rate": args.concurrent_rate, "quick": args.quick,
        "reply": reply, "reply_words": len(reply.split()), "reply_tokens": len(tokens),
        "reply_sentences": len(sentence_ends(tokens)), "load_average_start": load_average(),
        "torch_threads": (server.env.get("TORCH_THREADS") if server else None),
        "ld_preload": (server.env.get("LD_PRELOAD") if server else None),
    }
    try:
        health = httpx.get(url + "/health", timeout=30).json()
        meta["engine"], meta["device"] = health.get("engine"), health.get("device")
        meta["health"] = health
    except (httpx.HTTPError, ValueError) as exc:
        meta["health_error"] = repr(exc)
    info: dict[str, Any] = {}

    def save(partial: dict[str, Any]) -> None:   # a run cut short keeps what it measured
        if args.json:
            write_json(args.json, {"meta": {**meta, **info}, "partial": True, **partial})

    try:
        result = asyncio.run(run_all(url, args, reply, info, save))
    finally:
        if server is not None:
            server.stop()
    meta["load_average_end"] = load_average()
    meta.update(info)
    result = {"meta": meta, **result}
    print()
    print(markdown(result))
    if args.json:
        write_json(args.json, result)
    errors = errors_of(result)
    if errors:
        print(f"\n{len(errors)} errors, first: {errors[0]}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
