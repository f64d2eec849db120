"""A Wyoming client for the tests and benches: the ``wyoming`` package's ``AsyncTcpClient``, used as Home
Assistant's Wyoming integration uses it (one connection per request, events written and read in turn).

``speak_streamed`` is the streaming sequence a voice assistant sends while its LLM writes (start, the
deltas ``delay_s`` apart, the compatibility ``synthesize``, stop), reading the answer at the same time;
its ``WyomingReply`` records when each delta went out and when each audio chunk arrived, which is
what a bench needs for time to first audio after the first sentence, and for stalls.
"""
import asyncio
import socket
import time
from dataclasses import dataclass, field
from typing import Optional

from wyoming.audio import AudioChunk
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

ENDS = ("audio-stop", "error")


@dataclass
class WyomingReply:
    """What came back for one request: the events other than audio chunks, the audio, and timings
    (``time.perf_counter()``)."""

    events: list[Event] = field(default_factory=list)
    audio: bytes = b""
    chunks: list[tuple[float, int]] = field(default_factory=list)   # (arrival, bytes) of each audio-chunk
    sent: list[float] = field(default_factory=list)                 # when each delta went out
    stop_sent_at: Optional[float] = None

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    @property
    def error(self) -> Optional[dict]:
        return next((e.data for e in self.events if e.type == "error"), None)

    @property
    def first_audio_at(self) -> Optional[float]:
        return self.chunks[0][0] if self.chunks else None

    def take(self, event: Event) -> None:
        if AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            assert (chunk.rate, chunk.width, chunk.channels) == (24_000, 2, 1), event.data
            self.audio += chunk.audio
            self.chunks.append((time.perf_counter(), len(chunk.audio)))
        else:
            self.events.append(event)


class NarrowTcpClient(AsyncTcpClient):
    """An ``AsyncTcpClient`` whose socket has a small receive buffer (no autotuning): a client that stops
    reading holds the server back at once, not after megabytes."""

    def __init__(self, host: str, port: int, receive_buffer: int = 8192, **timeouts):
        super().__init__(host, port, **timeouts)
        self.receive_buffer = receive_buffer

    async def connect(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
        self._reader, self._writer = await asyncio.open_connection(sock=sock)


async def read_until(client: AsyncTcpClient, reply: WyomingReply, ends=ENDS, timeout: float = 60) -> WyomingReply:
    """Reads into ``reply`` until an event of ``ends`` (or the connection closes: an AssertionError)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await client.read_event()
            assert event is not None, f"the connection closed; got {reply.types()}"
            reply.take(event)
            if event.type in ends:
                return reply


async def describe(client: AsyncTcpClient) -> Info:
    await client.write_event(Describe().event())
    event = await client.read_event()
    assert event is not None and Info.is_type(event.type), event
    return Info.from_event(event)


async def synthesize(client: AsyncTcpClient, text: str, voice: Optional[SynthesizeVoice] = None,
                     timeout: float = 60) -> WyomingReply:
    await client.write_event(Synthesize(text=text, voice=voice).event())
    return await read_until(client, WyomingReply(), timeout=timeout)


async def stream(client: AsyncTcpClient, deltas: list[str], voice: Optional[SynthesizeVoice] = None,
                 delay_s: float = 0.0, compatibility: bool = True, timeout: float = 60) -> WyomingReply:
    """The streaming sequence on an open connection, read while it is written; returns at
    ``synthesize-stopped`` (or an error that ends the stream before it)."""
    reply = WyomingReply()
    await client.write_event(SynthesizeStart(voice=voice).event())

    async def write() -> None:
        for delta in deltas:
            await client.write_event(SynthesizeChunk(text=delta).event())
            reply.sent.append(time.perf_counter())
            if delay_s:
                await asyncio.sleep(delay_s)
        if compatibility:   # what a client sends for servers that do not stream; ignored by ours
            await client.write_event(Synthesize(text="".join(deltas), voice=voice).event())
        await client.write_event(SynthesizeStop().event())
        reply.stop_sent_at = time.perf_counter()

    writer = asyncio.create_task(write())
    try:
        await read_until(client, reply, ends=("synthesize-stopped", "error"), timeout=timeout)
        await writer
    finally:
        writer.cancel()
    return reply


async def speak_streamed(host: str, port: int, deltas: list[str], voice: Optional[SynthesizeVoice] = None,
                         delay_s: float = 0.0, timeout: float = 120) -> WyomingReply:
    """One streamed reply on a connection of its own, as Home Assistant sends one (for benches: 20 tokens
    a second is ``delay_s=0.05``)."""
    async with AsyncTcpClient(host, port) as client:
        return await stream(client, deltas, voice, delay_s=delay_s, timeout=timeout)
