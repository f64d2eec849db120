"""A test client for ``WS /v1/audio/speech/stream`` on the real socket (the ``websockets`` sync client)."""
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Optional

from websockets.sync.client import ClientConnection, connect

PATH = "/v1/audio/speech/stream"


def ws_url(server, path: str = PATH, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + path + (f"?{query}" if query else "")


def open_socket(server, path: str = PATH, query: str = "", **options) -> ClientConnection:
    return connect(ws_url(server, path, query), open_timeout=30, **options)


def send(ws: ClientConnection, type_: str, **fields) -> None:
    ws.send(json.dumps({"type": type_, **fields}))


@dataclass
class Reply:
    """What one context received: its audio bytes, words and every JSON message, in order."""

    audio: bytes = b""
    words: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    first_audio_at: Optional[float] = None

    @property
    def over(self) -> Optional[dict]:
        return next((m for m in self.messages if m["type"] in ("done", "error")), None)

    def types(self) -> list[str]:
        return [m["type"] for m in self.messages]


class Listener:
    """Reads a socket's messages into a ``Reply`` per context (an audio message and its binary frame
    are one piece)."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.replies: dict[Optional[str], Reply] = {}
        self._audio_for: Optional[str] = None

    def reply(self, context_id: Optional[str] = "default") -> Reply:
        return self.replies.setdefault(context_id, Reply())

    def read_one(self, timeout: float = 30) -> object:
        message = self.ws.recv(timeout=timeout)
        if isinstance(message, bytes):
            assert self._audio_for is not None, "a binary frame without its audio message"
            reply = self.reply(self._audio_for)
            reply.audio += message
            self._audio_for = None
            return message
        event = json.loads(message)
        reply = self.reply(event.get("context_id"))
        reply.messages.append(event)
        if event["type"] == "audio":
            if reply.first_audio_at is None and event["bytes"]:
                reply.first_audio_at = time.perf_counter()
            reply.words += event["words"]
            if "audio" in event:
                reply.audio += base64.b64decode(event["audio"])
            elif event["bytes"]:
                self._audio_for = event["context_id"]
        return event

    def until(self, condition, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; got {[(k, r.types()) for k, r in self.replies.items()]}"
            self.read_one(timeout=left)

    def until_over(self, context_id: Optional[str] = "default", timeout: float = 60) -> Reply:
        self.until(lambda: self.reply(context_id).over is not None, timeout)
        return self.reply(context_id)


def speak_stream(server, deltas: list[str], delay_s: float = 0.0, **start) -> Reply:
    """One context: ``start`` fields, the deltas (``delay_s`` apart), ``end``; its whole reply."""
    with open_socket(server) as ws:
        listener = Listener(ws)
        send(ws, "start", **start)
        for delta in deltas:
            send(ws, "text", text=delta)
            if delay_s:
                time.sleep(delay_s)
        send(ws, "end")
        return listener.until_over()
