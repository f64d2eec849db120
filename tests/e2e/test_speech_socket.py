"""WS /v1/audio/speech/stream through the real socket: text streamed in, speech streamed out (issue 23).

The model-free server (real text path, scheduler and encoders; tones for audio) serves the protocol's
tests; the words it reports are checked against /dev/captioned_speech of the whole text."""
import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.audio import decode
from tests.support.http_calls import HELD_TEXT
from tests.support.live import Listener, open_socket, send, speak_stream
from tests.support.server import AppServer
from tests.support.waiting import eventually

REPLY = ("Sure, here is the plan. First, we meet Dr. Smith at 3.30 pm on Main St. for coffee. "
         "Then we walk to the harbour, which takes about 20 minutes! Does that work for you?")


def tokens(text: str) -> list[str]:
    """Split like an LLM's tokenizer: word pieces with their leading space, punctuation apart."""
    out, word = [], ""
    for ch in text:
        if ch in " .,!?" and word:
            out.append(word)
            word = ""
        word += ch
        if ch in ".,!?":
            out.append(word)
            word = ""
    return out + ([word] if word else [])


@pytest.fixture(scope="module")
def live(model_dir):
    proc = AppServer(model_dir, model_free=True, stream_quiet_flush_ms=300, stream_max_contexts=2,
                     max_input_chars=3000, stream_max_message_bytes=8192).start()
    yield proc
    proc.stop()


def whole_words(server, text: str, **body) -> list[tuple[str, int, int]]:
    r = httpx.post(server.url + "/dev/captioned_speech", timeout=60,
                   json={"input": text, "voice": "af_heart", "stream": False, "response_format": "pcm", **body})
    assert r.status_code == 200, r.text
    return [(w["word"], w["text_start"], w["text_end"]) for w in r.json()["timestamps"]]


def test_tokens_in_speech_out_with_the_whole_texts_words(live):
    reply = speak_stream(live, tokens(REPLY), voice="af_heart")
    assert reply.over["type"] == "done" and reply.over["reason"] == "end", reply.messages
    assert reply.types()[0] == "started" and len(reply.audio) > 48_000
    assert reply.over["usage"]["output_tokens"] == -(-len(reply.audio) // 2 // 600)
    # the words point into the streamed text, as the whole text's captions do
    assert [(w["word"], w["text_start"], w["text_end"]) for w in reply.words] == whole_words(live, REPLY)
    times = [(w["start_time"], w["end_time"]) for w in reply.words]
    assert all(a <= b for a, b in times) and all(b1 <= a2 + 1e-6 for (_, b1), (a2, _) in zip(times, times[1:]))
    assert times[-1][1] <= len(reply.audio) / 2 / 24_000 + 0.05


def test_audio_comes_before_the_text_is_finished(live):
    with open_socket(live) as ws:
        listener = Listener(ws)
        send(ws, "start", voice="af_heart")
        send(ws, "text", text="The first sentence is complete.")
        send(ws, "text", text=" The second is being wri")
        # no end, no flush: the finished sentence is spoken, all of it, and nothing of the next
        listener.until(lambda: "complete" in [w["word"] for w in listener.reply().words], timeout=20)
        spoken = [w["word"] for w in listener.reply().words]
        assert spoken == ["The", "first", "sentence", "is", "complete"]
        send(ws, "text", text="tten now.")
        send(ws, "end")
        reply = listener.until_over()
    assert [w["word"] for w in reply.words][5:] == ["The", "second", "is", "being", "written", "now"]


def test_a_quiet_gap_speaks_what_is_buffered_and_flush_says_when_it_is_out(live):
    with open_socket(live) as ws:
        listener = Listener(ws)
        send(ws, "start", voice="af_heart")
        send(ws, "text", text="No final mark here")
        started = time.monotonic()
        listener.until(lambda: listener.reply().audio, timeout=20)
        assert time.monotonic() - started >= 0.25   # the quiet gap (300 ms), not at once
        send(ws, "text", text=" and more")
        send(ws, "flush")
        listener.until(lambda: "flushed" in listener.reply().types(), timeout=20)
        words = [w["word"] for w in listener.reply().words]
        assert words == ["No", "final", "mark", "here", "and", "more"]
        assert listener.reply().types()[-1] == "flushed"
        send(ws, "end")
        assert listener.until_over().over["type"] == "done"


def test_cancel_stops_at_once_and_the_next_context_is_not_delayed(live):
    with open_socket(live) as ws:
        listener = Listener(ws)
        send(ws, "start", context_id="a", voice="af_heart", speed=0.25)
        send(ws, "text", context_id="a", text=HELD_TEXT[:2500])
        listener.until(lambda: listener.reply("a").audio, timeout=30)
        send(ws, "cancel", context_id="a")
        cancelled_at = time.perf_counter()
        send(ws, "start", context_id="b", voice="af_heart")
        send(ws, "text", context_id="b", text="A new reply.")
        send(ws, "end", context_id="b")
        listener.until(lambda: listener.reply("a").over is not None, timeout=10)
        done_after = time.perf_counter() - cancelled_at
        heard = len(listener.reply("a").audio)
        b = listener.until_over("b", timeout=20)
        assert b.over["type"] == "done" and b.audio
        assert b.first_audio_at - cancelled_at < 5
    a = listener.reply("a")
    assert a.over == {**a.over, "type": "done", "reason": "cancelled"}
    assert a.types()[-1] == "done" and len(a.audio) == heard   # nothing of it after its done
    assert done_after < 2, done_after
    assert len(a.audio) < 2 * 24_000 * 60   # far from the whole text's minutes


def test_contexts_interleave_on_one_socket(live):
    with open_socket(live) as ws:
        listener = Listener(ws)
        for cid, voice in (("one", "af_heart"), ("two", "af_sky")):
            send(ws, "start", context_id=cid, voice=voice, seed=7)
        for cid in ("one", "two"):
            send(ws, "text", context_id=cid, text=f"Context {cid} speaks. It has two sentences.")
            send(ws, "end", context_id=cid)
        one, two = listener.until_over("one"), listener.until_over("two")
    assert one.over["type"] == two.over["type"] == "done"
    assert [w["word"] for w in one.words][:2] == ["Context", "one"]
    assert [w["word"] for w in two.words][:2] == ["Context", "two"]
    assert one.audio != two.audio


def test_base64_and_encoded_formats(live):
    b64 = speak_stream(live, ["Hello there. ", "General Kenobi."], voice="af_heart", audio_encoding="base64",
                       seed=3)
    binary = speak_stream(live, ["Hello there. ", "General Kenobi."], voice="af_heart", seed=3)
    assert b64.audio == binary.audio and len(b64.audio) > 0
    mp3 = speak_stream(live, tokens(REPLY), voice="af_heart", response_format="mp3")
    audio = decode(mp3.audio, "mp3")   # one continuous file over all the parts
    assert audio.sample_rate == 24_000 and abs(audio.duration - mp3.words[-1]["end_time"]) < 1.0


def test_markup_pronunciations_and_voice_tags_carry_across_parts(live):
    reply = speak_stream(live, ["Say [Kok", "oro](/kˈOkəɹO/) now. [voice:af_", "sky]Then", " the sky speaks. ",
                                "[pause:0.5s]", " Done."],
                         voice="af_heart", allow_voice_tags=True)
    assert reply.over["type"] == "done", reply.messages
    words = [(w["word"], w["text_start"]) for w in reply.words]
    assert ("Kokoro", 5) in words and words[-1][0] == "Done"


def test_refusals_are_errors_in_the_openai_envelope(live):
    with open_socket(live) as ws:
        listener = Listener(ws)
        ws.send("{not json")
        ws.send(json.dumps({"type": "dance"}))
        send(ws, "text", context_id="ghost", text="hi")
        send(ws, "start", context_id="bad", voice="nobody_here")
        send(ws, "start", context_id="worse", speed=99)
        ws.send(b"\x00\x01")
        listener.until(lambda: len(listener.reply(None).messages) >= 4 and listener.reply("bad").over
                       and listener.reply("worse").over, timeout=20)
        for event in [*listener.reply(None).messages, listener.reply("bad").over, listener.reply("worse").over]:
            assert event["type"] == "error" and set(event["error"]) == {"message", "type", "param", "code"}
        codes = [m["error"]["code"] for m in listener.reply(None).messages]
        assert codes == ["invalid_json", "invalid_message", "unknown_context", "invalid_message"]
        assert listener.reply("bad").over["error"]["type"] in ("invalid_request_error",)
        assert listener.reply("worse").over["error"]["param"] == "speed"
        # the socket is still good
        send(ws, "start", voice="af_heart", text="Still here.")
        send(ws, "end")
        send(ws, "text", text="After the end.")
        assert listener.until_over().over["type"] == "done"
        listener.until(lambda: len(listener.reply(None).messages) >= 5)
        # refused either way: ended and still speaking, or already done (the order of the two is the server's)
        assert listener.reply(None).messages[-1]["error"]["code"] in ("context_ended", "unknown_context")


def test_contexts_and_buffered_text_are_bounded(live):
    with open_socket(live) as ws:
        listener = Listener(ws)
        for cid in ("a", "b", "c"):
            send(ws, "start", context_id=cid, voice="af_heart")
        listener.until(lambda: listener.reply("c").over is not None)
        assert listener.reply("c").over["error"]["code"] == "too_many_contexts"
        send(ws, "text", context_id="a", text="x" * 3001)   # MAX_INPUT_CHARS=3000, no sentence end
        listener.until(lambda: listener.reply("a").over is not None)
        assert listener.reply("a").over["error"]["code"] == "input_too_long"
        send(ws, "start", context_id="c", voice="af_heart")   # a slot is free again
        listener.until(lambda: "started" in listener.reply("c").types())
        ws.send(json.dumps({"type": "text", "context_id": "b", "text": "y" * 9000}))   # > 8192 bytes
        with pytest.raises(ConnectionClosed):
            listener.until(lambda: False, timeout=10)
        assert ws.close_code == 1009 and "STREAM_MAX_MESSAGE_BYTES" in ws.close_reason


def test_the_root_path_serves_it_too(live):
    with open_socket(live, path="/audio/speech/stream") as ws:
        listener = Listener(ws)
        send(ws, "start", voice="af_heart", text="Root.")
        send(ws, "end")
        assert listener.until_over().over["type"] == "done"


@pytest.fixture(scope="module")
def guarded(model_dir):
    proc = AppServer(model_dir, model_free=True, api_keys="sekrit-key-123", cors_origins="http://good.example",
                     stream_max_sockets=2, stream_idle_timeout_s=1.0, slow_reader_timeout_s=2.0).start()
    yield proc
    proc.stop()


def closed_with(server, **options) -> tuple[int, str]:
    with open_socket(server, **options) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=20)
        return ws.close_code, ws.close_reason


def test_keys_and_origins_are_checked_and_the_key_is_not_logged(guarded):
    code, reason = closed_with(guarded)
    assert code == 1008 and "API key" in reason
    assert closed_with(guarded, query="api_key=wrong")[0] == 1008
    code, reason = closed_with(guarded, additional_headers={"Authorization": "Bearer sekrit-key-123",
                                                            "Origin": "http://evil.example"})
    assert code == 1008 and "origin" in reason.lower()
    for options in ({"query": "api_key=sekrit-key-123", "origin": "http://good.example"},
                    {"additional_headers": {"Authorization": "Bearer sekrit-key-123"}}):
        with open_socket(guarded, **options) as ws:
            listener = Listener(ws)
            send(ws, "start", voice="af_heart", text="Allowed.")
            send(ws, "end")
            assert listener.until_over().over["type"] == "done"
    assert "sekrit-key-123" not in guarded.log()


def test_sockets_idle_and_slow_readers_are_bounded(guarded):
    key = {"additional_headers": {"Authorization": "Bearer sekrit-key-123"}}
    with open_socket(guarded, **key) as first, open_socket(guarded, **key) as second:
        code, reason = closed_with(guarded, **key)   # STREAM_MAX_SOCKETS=2
        assert code == 1013 and "STREAM_MAX_SOCKETS" in reason
        send(first, "start", voice="af_heart")   # an open context waiting for text is no activity
        started = time.monotonic()
        assert json.loads(first.recv(timeout=10))["type"] == "started"
        with pytest.raises(ConnectionClosed):
            first.recv(timeout=10)   # idle for STREAM_IDLE_TIMEOUT_S=1
        assert first.close_code == 4000 and time.monotonic() - started < 5
        second.close()
    # A client that reads nothing: its frames stop being taken, and the server closes it after 2 s (the
    # client cannot see the close frame behind the audio it does not read: the server's side is checked).
    slots = guarded.app.state.socket_slots
    with open_socket(guarded, max_queue=1, ping_interval=None, **key) as ws:
        send(ws, "start", voice="af_heart", speed=0.25)
        send(ws, "text", text=HELD_TEXT[:2500])
        send(ws, "end")
        assert eventually(lambda: slots.open == 1, timeout=10)
        assert eventually(lambda: slots.open == 0, timeout=30)   # read nothing meanwhile
    assert eventually(lambda: "4001" in guarded.log() and "SLOW_READER_TIMEOUT_S" in guarded.log(), timeout=5)


@pytest.fixture(scope="module")
def busy(model_dir):
    proc = AppServer(model_dir, model_free=True, max_active_requests=1, max_queue_wait_s=0).start()
    yield proc
    proc.stop()


def test_a_full_server_refuses_a_context_with_a_retry_hint(busy):
    from tests.support.http_calls import Held

    with httpx.Client(base_url=busy.url, timeout=60) as http:
        held = Held(http)
        try:
            with open_socket(busy) as ws:
                listener = Listener(ws)
                send(ws, "start", voice="af_heart", text="Is there room? ")
                send(ws, "end")
                reply = listener.until_over()
        finally:
            held.close()
    assert reply.over["type"] == "error" and reply.over["error"]["code"] in ("queue_full", "overloaded")
    assert reply.over["error"]["type"] == "rate_limit_error" and reply.over["retry_after_s"] >= 1


def test_sigterm_lets_an_open_reply_finish_and_refuses_new_sockets(model_dir, tmp_path):
    import signal

    from tests.support.server import ServerProcess

    proc = ServerProcess(model_dir, tmp_path / "server.log", model_free=True, shutdown_grace_s=60).start()
    try:
        with open_socket(proc) as ws:
            listener = Listener(ws)
            send(ws, "start", voice="af_heart", text="A reply in progress. ")
            listener.until(lambda: listener.reply().audio)
            proc.proc.send_signal(signal.SIGTERM)
            assert eventually(lambda: httpx.get(proc.url + "/health", timeout=5).status_code == 503, timeout=10)
            code, reason = closed_with(proc)   # a new socket while draining
            assert code == 1001 and "shutting down" in reason
            send(ws, "start", context_id="late", voice="af_heart")
            listener.until(lambda: listener.reply("late").over is not None)
            assert listener.reply("late").over["error"]["code"] == "server_shutting_down"
            send(ws, "text", text="It still ends well.")   # the open reply is in flight: it may finish
            send(ws, "end")
            reply = listener.until_over()
        assert reply.over["type"] == "done" and [w["word"] for w in reply.words][-1] == "well"
        assert proc.proc.wait(timeout=30) == 0   # drained once the reply was done
    finally:
        proc.stop()


def test_a_reply_starts_with_a_short_chunk(live):
    """STREAM_FIRST_CHUNK_TOKENS (30): the first sentence's audio starts before all of it is made."""
    sentence = "This first sentence of the reply is rather long and goes on for quite a few words before it ends."
    with open_socket(live) as ws:
        listener = Listener(ws)
        send(ws, "start", voice="af_heart")
        send(ws, "text", text=sentence + " Next")
        listener.until(lambda: listener.reply().words)
        first_piece = [w["word"] for w in listener.reply().words]
        send(ws, "end")
        reply = listener.until_over()
    assert 2 <= len(first_piece) < 10, first_piece
    assert [w["word"] for w in reply.words] == sentence.rstrip(".").split() + ["Next"]
