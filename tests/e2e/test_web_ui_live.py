"""The web UI's "speak as I type" mode (issue 23 §2), driven in Debian's chromium by Playwright.

What is typed goes over ``WS /v1/audio/speech/stream`` while it is typed, and its speech plays before
the text is finished. Against the model-free server (``tests.support.model_free``: the real text path,
scheduler and socket, tones instead of a forward): the audio's timing and the protocol are what count
here, not its sound. Every frame of the page's socket is recorded as chromium saw it.
"""
import json
import re

import pytest

from tests.e2e import test_web_ui as web_ui
from tests.e2e.test_web_ui import needs_chromium, open_ui
from tests.support.audio import SAMPLE_RATE
from tests.support.server import AppServer

# test_web_ui's browser, pages and key-locked server, as fixtures of this module too
browser, page, locked = web_ui.browser, web_ui.page, web_ui.locked

# Three sentences: the first two are spoken while the next is typed (a sentence is complete once the
# text after its final punctuation begins).
TYPED = "Hello there. This is typed while it is spoken. The last sentence ends here."
DELAY_MS = 50    # between two key presses: far below the server's quiet gap (STREAM_QUIET_FLUSH_MS, 500)
BLOCKED = "What you type now is not sent: change the voice, model or speed, or turn the mode off and on."


class Frames:
    """The page's socket frames in the order chromium saw them: ("sent", message) and ("received",
    message) for JSON text frames, ("audio", length) for binary frames."""

    def __init__(self, page):
        self.page = page
        self.urls: list[str] = []
        self.log: list[tuple] = []
        page.on("websocket", self._opened)

    def _opened(self, ws):
        self.urls.append(ws.url)
        ws.on("framesent", lambda payload: self.log.append(("sent", json.loads(payload))))
        ws.on("framereceived", lambda payload: self.log.append(
            ("received", json.loads(payload)) if isinstance(payload, str) else ("audio", len(payload))))

    def sent(self, kind=None):
        return [m for k, m in self.log if k == "sent" and kind in (None, m["type"])]

    def received(self, kind=None):
        return [m for k, m in self.log if k == "received" and kind in (None, m["type"])]

    def audio_bytes(self):
        return sum(n for k, n in self.log if k == "audio")

    def wait_for(self, condition, timeout_s=30):
        """Polls through the page (the frames' events are delivered while Playwright waits)."""
        for _ in range(int(timeout_s * 20)):
            if condition():
                return True
            self.page.wait_for_timeout(50)
        return bool(condition())


def live_mode(page):
    """Empties the text box and turns the mode on (text there before is not spoken)."""
    page.fill("#text", "")
    page.check("#live")
    assert page.is_visible("#live-hint")
    assert page.text_content("#play") == "▶ Speak the rest" and page.is_disabled("#play")


def player(page, name):
    return page.get_attribute("#player", f"data-{name}")


@needs_chromium
def test_speech_arrives_before_the_text_is_finished(page, server):
    frames = Frames(page)
    open_ui(page, server)
    live_mode(page)
    box = page.locator("#text")
    box.press_sequentially(TYPED[:-1], delay=DELAY_MS)
    # The last character is not typed yet: the first sentences were already received and are playing.
    assert player(page, "state") == "playing", page.text_content("#status")
    assert int(player(page, "bytes")) > 0 and int(player(page, "bytes-at-start")) > 0
    assert page.is_enabled("#play") and page.is_enabled("#stop")
    box.press_sequentially(TYPED[-1])
    page.click("#play")   # ▶ speaks the rest: `end`
    page.wait_for_selector("#player[data-state=done]", timeout=30_000)
    assert frames.wait_for(lambda: frames.received("done"))
    assert page.is_hidden("#error"), page.text_content("#error")

    assert frames.urls == [server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"]
    start, *texts, end = frames.sent()
    assert start == {"type": "start", "context_id": "live-1", "model": "kokoro-v1_0", "voice": "af_heart",
                     "speed": 1, "response_format": "pcm", "audio_encoding": "binary", "text": TYPED[0]}
    # One message per key press, in order, then `end`.
    assert all(m["type"] == "text" and m["context_id"] == "live-1" and len(m["text"]) == 1 for m in texts)
    assert TYPED[0] + "".join(m["text"] for m in texts) == TYPED
    assert end == {"type": "end", "context_id": "live-1"}
    # The first audio frame came in before the last character went out.
    first_audio = next(i for i, (kind, _) in enumerate(frames.log) if kind == "audio")
    last_text = max(i for i, (kind, m) in enumerate(frames.log) if kind == "sent" and m["type"] == "text")
    assert first_audio < last_text
    (done,) = frames.received("done")
    assert done["context_id"] == "live-1" and done["reason"] == "end" and not frames.received("error")

    # Everything received was played, to its end, and the transcript marks the spoken words.
    assert int(player(page, "bytes")) == frames.audio_bytes()
    assert float(player(page, "position")) == pytest.approx(frames.audio_bytes() / 2 / SAMPLE_RATE, abs=0.01)
    assert page.eval_on_selector_all("#transcript .word", "ws => ws.map(w => w.textContent)") == \
        re.findall(r"\w+", TYPED)
    assert page.text_content("#status").startswith("Done: ")


@needs_chromium
def test_stop_cancels_and_typing_goes_on(page, server):
    frames = Frames(page)
    open_ui(page, server)
    live_mode(page)
    box = page.locator("#text")
    box.press_sequentially("A first sentence to start with. Another one follows it here. And th", delay=10)
    page.wait_for_selector("#player[data-state=playing]", timeout=30_000)
    page.click("#stop")
    page.wait_for_selector("#player[data-state=stopped]")
    assert page.text_content("#status") == "Stopped." and page.is_hidden("#error")
    assert page.is_disabled("#stop") and page.is_disabled("#play")
    assert frames.sent("cancel") == [{"type": "cancel", "context_id": "live-1"}]
    assert frames.wait_for(lambda: frames.received("done"))
    assert frames.received("done")[0]["reason"] == "cancelled"
    # Nothing more is played (late audio of the cancelled context is dropped by the page).
    heard = player(page, "bytes")
    page.wait_for_timeout(700)
    assert player(page, "bytes") == heard and player(page, "state") == "stopped"

    # Typing again is a new utterance on the same socket, spoken from what is typed after the stop.
    box.press_sequentially("en some more. Done", delay=10)
    page.click("#play")
    page.wait_for_selector("#player[data-state=done]", timeout=30_000)
    assert frames.wait_for(lambda: len(frames.received("done")) == 2)
    starts = frames.sent("start")
    assert [m["context_id"] for m in starts] == ["live-1", "live-2"] and starts[1]["text"] == "e"
    assert "".join(m["text"] for m in frames.sent("text") if m["context_id"] == "live-2") == "n some more. Done"
    assert [(m["context_id"], m["reason"]) for m in frames.received("done")] == [("live-1", "cancelled"),
                                                                                 ("live-2", "end")]
    assert len(frames.urls) == 1 and page.is_hidden("#error")


@needs_chromium
def test_an_edit_to_sent_text_ends_the_utterance(page, server):
    frames = Frames(page)
    open_ui(page, server)
    live_mode(page)
    box = page.locator("#text")
    box.press_sequentially("Hello there. Byx", delay=10)
    box.press("Backspace")   # the server has "x" already: it cannot be taken back
    assert frames.wait_for(lambda: frames.sent("end"))
    assert frames.sent("end") == [{"type": "end", "context_id": "live-1"}]
    assert page.text_content("#status").startswith("Changed text that was already sent")
    box.press_sequentially("e now.", delay=10)
    page.click("#play")
    page.wait_for_selector("#player[data-state=done]", timeout=30_000)
    assert frames.wait_for(lambda: len(frames.received("done")) == 2)
    second = [m for m in frames.sent() if m["context_id"] == "live-2"]
    assert second[0]["type"] == "start" and second[0]["text"] == "e"
    assert "".join(m["text"] for m in second[1:-1]) == " now." and second[-1]["type"] == "end"
    assert [m["reason"] for m in frames.received("done")] == ["end", "end"] and page.is_hidden("#error")


@needs_chromium
def test_an_error_is_shown_as_written_and_typing_waits(page, server):
    frames = Frames(page)
    open_ui(page, server)
    live_mode(page)
    page.fill("#voice", "zz_nobody")
    box = page.locator("#text")
    box.press_sequentially("Hello. Again", delay=10)
    page.wait_for_selector("#error:not([hidden])")
    (error,) = [m for m in frames.received("error") if m["context_id"] == "live-1"]
    assert page.text_content("#error") == error["error"]["message"] and error["error"]["code"] == "voice_not_found"
    page.wait_for_selector("#player[data-state=error]")
    box.press_sequentially(" and more", delay=10)
    assert page.text_content("#status") == BLOCKED
    assert len(frames.sent("start")) == 1   # not retried on every key press

    page.fill("#voice", "af_heart")   # a new choice: typing is sent again
    box.press_sequentially(" Now it works.", delay=10)
    page.click("#play")
    page.wait_for_selector("#player[data-state=done]", timeout=30_000)
    assert page.is_hidden("#error")
    start = frames.sent("start")[-1]
    assert start["context_id"] == "live-2" and start["voice"] == "af_heart" and start["text"] == " "


@needs_chromium
def test_api_key_goes_in_the_socket_url(page, locked):
    frames = Frames(page)
    page.goto(locked.url + "/web/")
    page.evaluate("localStorage.setItem('kokoro.apiKey', 'web-key')")
    page.reload()
    page.wait_for_selector("#voice-list button[data-voice=af_heart]")
    live_mode(page)
    page.locator("#text").press_sequentially("Hi there. Bye", delay=10)
    page.click("#play")
    page.wait_for_selector("#player[data-state=done]", timeout=30_000)
    assert frames.urls == [locked.url.replace("http://", "ws://") + "/v1/audio/speech/stream?api_key=web-key"]
    assert page.is_hidden("#error")

    # A key the server does not take: the socket is refused (1008) and the key field opens.
    page.evaluate("localStorage.setItem('kokoro.apiKey', 'wrong')")
    page.uncheck("#live")   # the socket closes once nothing is left to say; the next one has the new key
    page.check("#live")
    page.locator("#text").press_sequentially(" Again.", delay=10)
    page.wait_for_selector("#error:not([hidden])")
    assert frames.urls[-1].endswith("?api_key=wrong")
    assert page.text_content("#error").startswith("The server refused the streaming socket: invalid or missing API key")
    assert page.is_visible("#api-key")


@pytest.fixture(scope="module")
def quick_idle(v1_model_dir):
    proc = AppServer(v1_model_dir, model_free=True, stream_idle_timeout_s=1).start()
    yield proc
    proc.stop()


@needs_chromium
def test_a_socket_closed_for_idleness_is_opened_again(page, quick_idle):
    frames = Frames(page)
    open_ui(page, quick_idle)
    live_mode(page)
    box = page.locator("#text")
    box.press_sequentially("Hi there. Bye", delay=10)
    page.click("#play")
    page.wait_for_selector("#player[data-state=done]", timeout=30_000)
    page.wait_for_timeout(2500)   # past STREAM_IDLE_TIMEOUT_S: the server closes the socket (4000)
    assert page.is_hidden("#error")
    box.press_sequentially(" Again.", delay=10)
    page.click("#play")
    page.wait_for_selector("#player[data-state=done]", timeout=30_000)
    assert page.is_hidden("#error") and len(frames.urls) == 2
    assert [m["context_id"] for m in frames.sent("start")] == ["live-1", "live-2"]
