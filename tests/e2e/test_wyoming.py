"""The Wyoming server (WYOMING_PORT; issue 24), driven by the ``wyoming`` package's own ``AsyncTcpClient`` as
Home Assistant's Wyoming integration drives it: describe; synthesize; the streaming sequence; errors;
bounds. The model-free server (real text path, scheduler and encoders; tones for audio) serves them; the
words a stream speaks are checked against /dev/captioned_speech of the whole text."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import httpx
import pytest
from wyoming.client import AsyncTcpClient
from wyoming.event import Event, async_read_event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from api.src.services.speech.live import LiveAudio
from tests.support.audio import decode
from tests.support.http_calls import HELD_TEXT
from tests.support.models import TEST_VOICES, V0_19_TEST_VOICES
from tests.support.paths import REPO_ROOT
from tests.support.server import AppServer, ServerProcess, free_port
from tests.support.waiting import eventually
from tests.support.wyoming_client import (
    NarrowTcpClient,
    WyomingReply,
    describe,
    read_until,
    speak_streamed,
    stream,
    synthesize,
)

REPLY = ("Sure, here is the plan. First, we meet Dr. Smith at 3.30 pm on Main St. for coffee. "
         "It costs $4.50, which is fine! Then we walk to the harbour, about 20 minutes away.")


def run(coroutine):
    return asyncio.run(coroutine)


def connect(server, **timeouts) -> AsyncTcpClient:
    return AsyncTcpClient("127.0.0.1", server.settings.wyoming_port, **timeouts)


def cut(text: str, size: int) -> list[str]:
    """``text`` in deltas of ``size`` characters: cut inside words and numbers ("3.3", "0 pm")."""
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.fixture(scope="module")
def wy(model_dir):
    proc = AppServer(model_dir, model_free=True, host="127.0.0.1", wyoming_port=free_port(),
                     stream_quiet_flush_ms=300, max_input_chars=3000).start()
    yield proc
    proc.stop()


@pytest.fixture
def live_words(monkeypatch):
    """The words each streamed reply's LiveContext speaks (as the WebSocket route would send them)."""
    import api.src.wyoming_server.session as session

    spoken: list = []

    class Recording(session.LiveContext):
        def __init__(self, service, request, emit, *, quiet_s):
            async def recording(event):
                if isinstance(event, LiveAudio):
                    spoken.extend(event.words)
                await emit(event)

            super().__init__(service, request, recording, quiet_s=quiet_s)

    monkeypatch.setattr(session, "LiveContext", Recording)
    return spoken


def whole_words(server, text: str, voice: str = "af_heart") -> list[tuple[str, int, int]]:
    r = httpx.post(server.url + "/dev/captioned_speech", timeout=60,
                   json={"input": text, "voice": voice, "stream": False, "response_format": "pcm"})
    assert r.status_code == 200, r.text
    return [(w["word"], w["text_start"], w["text_end"]) for w in r.json()["timestamps"]]


def active(server) -> int:
    return server.app.state.scheduler.stats.active_streams


def test_describe_lists_every_voice_of_every_version_without_building_one(wy):
    info = run(_describe(wy))
    assert len(info.tts) == 1
    program = info.tts[0]
    assert program.name == "kokoro" and program.installed and program.supports_synthesize_streaming
    assert program.version and program.attribution.url.startswith("https://huggingface.co/hexgrad/")
    names = [v.name for v in program.voices]
    assert names == sorted(TEST_VOICES) + [f"kokoro-v0_19:{v}" for v in sorted(V0_19_TEST_VOICES)]
    heart = next(v for v in program.voices if v.name == "af_heart")
    assert heart.languages == ["en-US"] and heart.description == "Heart (American English, female)"
    assert heart.version == "v1_0" and heart.installed and heart.speakers is None
    emma = next(v for v in program.voices if v.name == "kokoro-v0_19:bf_emma")
    assert emma.languages == ["en-GB"] and emma.description == "Emma (British English, female, Kokoro v0.19)"
    assert wy.app.state.manager.build_counts["v0_19"] == 0   # listed from its folders, never built
    port = wy.settings.wyoming_port
    # the Wyoming address is logged as such, never as the HTTP one (the two lines may come in either order)
    assert eventually(lambda: f"ready: {wy.url} (device cpu)" in wy.log(), timeout=10)
    log = wy.log()
    assert f"wyoming: tcp://127.0.0.1:{port} (20 voices, streaming synthesis;" in log
    assert f"http://127.0.0.1:{port}" not in log


async def _describe(server):
    async with connect(server) as client:
        return await describe(client)


def test_synthesize_sends_audio_as_its_chunks_finish(wy):
    text = "The harbour is quiet tonight. A single boat comes in, slowly. Everyone on the pier waves."

    async def go():
        async with connect(wy) as client:
            return await synthesize(client, text, SynthesizeVoice(name="af_heart"))

    reply = run(go())
    assert reply.types() == ["audio-start", "audio-stop"], reply.events
    assert reply.events[0].data == {"rate": 24_000, "width": 2, "channels": 1, "timestamp": 0}
    whole = httpx.post(wy.url + "/v1/audio/speech", timeout=60, json={
        "input": text, "voice": "af_heart", "response_format": "pcm", "stream": False})
    assert len(reply.audio) == len(whole.content) and len(reply.chunks) > 1   # the same speech, in pieces
    audio = decode(reply.audio, "pcm")
    assert audio.duration > 1 and abs(audio.samples).max() > 0.1
    assert reply.events[-1].data["timestamp"] == len(reply.audio) // 2 * 1000 // 24_000


def test_audio_comes_while_a_long_text_is_still_being_synthesized(wy):
    async def go():
        async with NarrowTcpClient("127.0.0.1", wy.settings.wyoming_port) as client:
            await client.write_event(Synthesize(text=HELD_TEXT[:2900]).event())
            reply = await read_until(client, WyomingReply(), ends=("audio-chunk",))
            # the first audio is here, and its request is still being synthesized (held back by this reader)
            assert await asyncio.to_thread(eventually, lambda: active(wy) == 1, 5)
            assert reply.types() == ["audio-start"]
            await read_until(client, reply, timeout=120)
            return reply

    reply = run(go())
    assert reply.types() == ["audio-start", "audio-stop"]
    assert len(reply.audio) > 2 * 24_000 * 60
    assert eventually(lambda: active(wy) == 0, 5)


def test_voices_names_mixes_openai_names_and_languages(wy):
    async def go():
        replies = {}
        async with connect(wy) as client:   # one connection, request after request
            for key, voice in (("mix", SynthesizeVoice(name="af_bella(2)+af_sky(1)")),
                               ("openai", SynthesizeVoice(name="nova")),
                               ("readable", SynthesizeVoice(name="Heart")),
                               ("british", SynthesizeVoice(language="en-GB")),
                               ("underscored", SynthesizeVoice(language="en_GB")),
                               ("v0_19", SynthesizeVoice(name="kokoro-v0_19:af_bella", speaker="ignored")),
                               ("none", None),
                               ("german", SynthesizeVoice(language="de-DE"))):
                replies[key] = await synthesize(client, "Hello there.", voice)
        return replies

    replies = run(go())
    for key, reply in replies.items():
        if key == "german":
            assert reply.error["code"] == "language_not_supported" and "en-US" in reply.error["text"]
        else:
            assert reply.types() == ["audio-start", "audio-stop"] and reply.audio, (key, reply.events)
    log = wy.log()
    for voice in ("af_bella(2)+af_sky(1)", "nova", "Heart", "bf_emma", "af_bella", "af_heart"):
        assert f"wyoming synthesize voice={voice} " in log
    assert replies["mix"].audio != replies["openai"].audio


def test_a_bad_voice_is_an_error_and_the_connection_stays_usable(wy):
    async def go():
        async with connect(wy) as client:
            bad = await synthesize(client, "Hello.", SynthesizeVoice(name="nobody_here"))
            good = await synthesize(client, "Hello again.", SynthesizeVoice(name="af_heart"))
            # the same for a stream: its chunks, its compatibility copy and its stop are dropped, the stop
            # answered with synthesize-stopped alone
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="nobody_here")).event())
            refused = await read_until(client, WyomingReply())
            for event in (SynthesizeChunk(text="Lost words.").event(), Synthesize(text="Lost words.").event(),
                          SynthesizeStop().event()):
                await client.write_event(event)
            await read_until(client, refused, ends=("synthesize-stopped",))
            streamed = await stream(client, ["Now it ", "works."], SynthesizeVoice(name="af_heart"))
            unknown_model = await synthesize(client, "Hi.", SynthesizeVoice(name="kokoro-v9:af_heart"))
            return bad, good, refused, streamed, unknown_model

    bad, good, refused, streamed, unknown_model = run(go())
    assert bad.types() == ["error"] and bad.error["code"] == "voice_not_found"
    assert "nobody_here" in bad.error["text"] and "af_heart" in bad.error["text"]   # names the voices there are
    assert good.types() == ["audio-start", "audio-stop"] and good.audio
    assert refused.types() == ["error", "synthesize-stopped"] and not refused.audio
    assert streamed.types() == ["audio-start", "audio-stop", "synthesize-stopped"] and streamed.audio
    assert unknown_model.error["code"] == "model_not_found"


def test_a_stream_split_mid_word_and_mid_number_speaks_the_whole_texts_words(wy, live_words):
    deltas = cut(REPLY, 7)
    assert "3.3" in deltas[len("Sure, here is the plan. First, we meet Dr. Smith at ") // 7]   # a cut number
    reply = run(speak_streamed("127.0.0.1", wy.settings.wyoming_port, deltas, SynthesizeVoice(name="af_heart")))
    assert reply.types() == ["audio-start", "audio-stop", "synthesize-stopped"], reply.events
    assert [(w.word, w.text_start, w.text_end) for w in live_words] == whole_words(wy, REPLY)
    audio = decode(reply.audio, "pcm")
    assert abs(audio.duration - live_words[-1].end_time) < 0.6   # the words' times are this audio's
    assert f"wyoming stream voice=af_heart chars={len(REPLY)} " in wy.log()


def test_audio_of_a_stream_starts_before_its_stop_is_sent(wy, live_words):
    async def go():
        async with connect(wy) as client:
            reply = WyomingReply()
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="af_heart")).event())
            for delta in ("The first sentence is comp", "lete. The second is being wri"):
                await client.write_event(SynthesizeChunk(text=delta).event())
            # no stop yet: the finished sentence is spoken, all of it (a reply's first chunk is short, so it
            # may come in two chunks), and nothing of the next
            await read_until(client, reply, ends=("audio-chunk",), timeout=20)
            deadline = time.monotonic() + 20
            while "complete" not in [w.word for w in live_words] and time.monotonic() < deadline:
                await read_until(client, reply, ends=("audio-chunk",), timeout=20)
            heard = [w.word for w in live_words]
            for event in (SynthesizeChunk(text="tten now.").event(), Synthesize(text="(the whole text)").event(),
                          SynthesizeStop().event()):
                await client.write_event(event)
            stop_sent_at = time.perf_counter()
            await read_until(client, reply, ends=("synthesize-stopped",))
            return reply, heard, stop_sent_at

    reply, heard, stop_sent_at = run(go())
    assert heard == ["The", "first", "sentence", "is", "complete"]
    assert reply.first_audio_at < stop_sent_at
    assert reply.types() == ["audio-start", "audio-stop", "synthesize-stopped"]
    assert [w.word for w in live_words][5:] == ["The", "second", "is", "being", "written", "now"]   # not the copy


def test_a_client_that_leaves_mid_stream_frees_its_work(wy):
    metrics = lambda: httpx.get(wy.url + "/metrics").text  # noqa: E731

    async def go():
        client = NarrowTcpClient("127.0.0.1", wy.settings.wyoming_port)
        await client.connect()
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="af_heart")).event())
        await client.write_event(SynthesizeChunk(text=HELD_TEXT[:2900]).event())
        await read_until(client, WyomingReply(), ends=("audio-chunk",))
        assert await asyncio.to_thread(eventually, lambda: active(wy) == 1, 10)
        assert "kokoro_active_requests 1.0" in await asyncio.to_thread(metrics)
        assert wy.app.state.admission.inflight == 1
        await client.disconnect()   # mid-stream: no synthesize-stop, most of the text unspoken

    run(go())
    assert eventually(lambda: active(wy) == 0, 5)
    assert "kokoro_active_requests 0.0" in metrics()
    assert wy.app.state.admission.inflight == 0 and wy.app.state.wyoming.slots.open == 0
    logged = "wyoming stream voice=af_heart chars=2900 "
    assert eventually(lambda: logged in wy.log())
    assert "status=cancelled" in next(line for line in wy.log().splitlines() if logged in line)


def test_too_much_buffered_text_is_an_error(wy):
    async def go():
        async with connect(wy) as client:
            return await stream(client, ["x" * 3001], SynthesizeVoice(name="af_heart"), compatibility=False)

    reply = run(go())   # MAX_INPUT_CHARS=3000 buffered, with no sentence end
    assert reply.error["code"] == "input_too_long"


def test_while_draining_new_requests_and_connections_are_refused(wy):
    """The SIGTERM drain (http.shutdown) sets admission.draining: Wyoming refuses as HTTP answers 503."""
    async def go():
        async with connect(wy) as client:
            await describe(client)
            wy.app.state.admission.draining = True
            try:
                refused = await synthesize(client, "Too late.")
                async with connect(wy) as late:
                    turned_away = await read_until(late, WyomingReply())
                    assert await late.read_event() is None
            finally:
                wy.app.state.admission.draining = False
            return refused, turned_away

    refused, turned_away = run(go())
    assert refused.error["code"] == turned_away.error["code"] == "server_shutting_down"


@pytest.fixture(scope="module")
def bounded(model_dir):
    proc = AppServer(model_dir, model_free=True, host="127.0.0.1", wyoming_port=free_port(), max_input_chars=3000,
                     wyoming_max_connections=2, wyoming_idle_timeout_s=1.5, slow_reader_timeout_s=2.0,
                     wyoming_zeroconf=True).start()
    yield proc
    proc.stop()


async def raw_line(server, line: bytes) -> list[Event]:
    """What the server answers to ``line`` (a header the package would never write), until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.settings.wyoming_port)
    writer.write(line)
    events = []
    async with asyncio.timeout(10):
        while (event := await async_read_event(reader)) is not None:
            events.append(event)
    writer.close()
    return events


def test_connections_idle_clients_and_malformed_events_are_bounded(bounded):
    async def go():
        async with connect(bounded) as first, connect(bounded) as second:
            await describe(first)
            described = time.monotonic()
            await describe(second)
            async with connect(bounded) as third:   # WYOMING_MAX_CONNECTIONS=2
                refused = await read_until(third, WyomingReply())
                assert await third.read_event() is None   # and closed
            assert refused.error["code"] == "too_many_connections"
            assert "WYOMING_MAX_CONNECTIONS" in refused.error["text"]
            idle = await read_until(first, WyomingReply(), timeout=10)   # WYOMING_IDLE_TIMEOUT_S=1.5
            assert idle.error["code"] == "idle" and await first.read_event() is None
            assert 1.4 < time.monotonic() - described < 5
        assert await asyncio.to_thread(eventually, lambda: bounded.app.state.wyoming.slots.open == 0, 5)
        # more data than a request may hold (MAX_INPUT_CHARS=3000), announced: refused before it is read
        header = {"type": "synthesize", "data_length": 10**9, "version": "1.11.0"}
        too_large = await raw_line(bounded, json.dumps(header).encode() + b"\n")
        assert [e.data["code"] for e in too_large] == ["event_too_large"]
        garbage = await raw_line(bounded, b"this is not JSON\n")
        assert [e.data["code"] for e in garbage] == ["invalid_event"]
        async with connect(bounded) as client:   # events out of place or of the wrong shape: errors, and on
            await client.write_event(SynthesizeChunk(text="no stream").event())
            await client.write_event(Event(type="synthesize", data={"text": 5}))
            await client.write_event(Event(type="select-program", data={"name": "kokoro"}))   # dropped
            wrong = await read_until(client, WyomingReply())
            wrong = await read_until(client, wrong)
            assert [e.data["code"] for e in wrong.events] == ["no_stream", "invalid_event"]
            assert (await synthesize(client, "Still here.")).types() == ["audio-start", "audio-stop"]

    run(go())


def test_a_client_that_stops_reading_is_cut_off_and_its_work_freed(bounded):
    async def go():
        async with NarrowTcpClient("127.0.0.1", bounded.settings.wyoming_port) as client:
            await client.write_event(Synthesize(text=HELD_TEXT[:2900]).event())
            assert await asyncio.to_thread(eventually, lambda: active(bounded) == 1, 10)
            # read nothing: after SLOW_READER_TIMEOUT_S=2 the server gives up on this client
            assert await asyncio.to_thread(eventually, lambda: active(bounded) == 0, 15)
            assert bounded.app.state.wyoming.slots.open == 0

    run(go())
    assert eventually(lambda: "SLOW_READER_TIMEOUT_S" in bounded.log(), 5)
    assert "wyoming synthesize voice=af_heart chars=2900 " in bounded.log() and "status=cancelled" in bounded.log()


def test_the_port_is_announced_over_mdns_for_home_assistant(bounded):
    pytest.importorskip("zeroconf")
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

    from api.src.wyoming_server.mdns import SERVICE_TYPE, instance_name

    port = bounded.settings.wyoming_port

    async def browse():
        responder = AsyncZeroconf()
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, f"{instance_name(port)}.{SERVICE_TYPE}")
            assert await info.async_request(responder.zeroconf, 3000), bounded.log()
            return info
        finally:
            await responder.async_close()

    info = run(browse())
    assert info.port == port and info.parsed_addresses() == ["127.0.0.1"]
    assert f"wyoming: announced as {instance_name(port)} at 127.0.0.1:{port}" in bounded.log()


class CliServer(ServerProcess):
    """``python -m api --wyoming-port ...`` as a user starts it (HOST, PORT and the rest as flags)."""

    def __init__(self, *args, flags: tuple[str, ...] = (), **settings):
        super().__init__(*args, **settings)
        self.flags = flags

    def command(self) -> list[str]:
        return [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(self.port), *self.flags]


def connection_owner(server_port: int, client_port: int, pids: list[int]) -> Optional[int]:
    """The process among ``pids`` that holds the server side of the TCP connection from ``client_port``
    (from /proc/net/tcp and each process's socket descriptors)."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(a.split(":")[1], 16) for a in fields[1:3])
        if (local, remote) == (server_port, client_port):
            inode = fields[9]
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_the_cli_flag_with_two_workers_shares_the_port(v1_model_dir, tmp_path):
    """``--wyoming-port`` with WORKERS=2: each worker binds the port (SO_REUSEPORT) and the kernel spreads
    the connections over them; each one is served whole by its worker."""
    port = free_port()
    server = CliServer(v1_model_dir, tmp_path / "server.log", flags=("--wyoming-port", str(port), "--workers", "2"),
                       torch_threads=1, max_input_chars=3000)
    server.start(timeout=180)
    try:
        assert eventually(lambda: server.log().count(f"wyoming: tcp://127.0.0.1:{port} (") == 2, 30), server.log()
        assert "port shared by the workers" in server.log()
        assert eventually(lambda: f"ready: {server.url} (device cpu)" in server.log(), 10)
        assert f"http://127.0.0.1:{port}" not in server.log()
        workers = children(server.proc.pid)

        async def go():
            clients = [AsyncTcpClient("127.0.0.1", port) for _ in range(16)]
            for client in clients:
                await client.connect()
            try:
                infos = [await describe(client) for client in clients]
                owners = {connection_owner(port, client._writer.get_extra_info("sockname")[1], workers)
                          for client in clients}
                spoken = [await synthesize(client, "Hello from a worker.") for client in clients[:4]]
            finally:
                for client in clients:
                    await client.disconnect()
            return infos, owners, spoken

        infos, owners, spoken = run(go())
        assert all(info.tts[0].voices for info in infos)
        assert len(owners) == 2 and owners <= set(workers), (owners, workers)   # both workers took connections
        for reply in spoken:
            assert reply.types() == ["audio-start", "audio-stop"] and len(reply.audio) > 24_000
    finally:
        server.stop()


def test_a_wyoming_port_in_use_stops_the_start_naming_the_flag(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(free_port()),
                               "--wyoming-port", str(port)], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=60, env={"PATH": "/usr/bin:/bin", "MODEL_DIR": str(tmp_path)})
    assert done.returncode == 1, done.stderr
    assert f"cannot start: 127.0.0.1:{port} is already in use" in done.stderr
    assert "--wyoming-port" in done.stderr and "WYOMING_PORT" in done.stderr
