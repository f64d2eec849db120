"""``python -m api`` bounds a request head in size (MAX_HEADER_BYTES) and time (HEADER_READ_TIMEOUT_S):
a huge header is refused with bounded memory, and a client that trickles its head (slowloris) is cut."""
import socket
import sys
import threading
import time

import httpx
import pytest

from tests.support.server import ServerProcess

TIMEOUT_S = 1.0


class CliServer(ServerProcess):
    """The server as ``python -m api`` runs it (not the bare uvicorn CLI)."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(self.port)]


@pytest.fixture(scope="module")
def proc(v1_model_dir, tmp_path_factory):
    server = CliServer(v1_model_dir, tmp_path_factory.mktemp("heads") / "server.log",
                       header_read_timeout_s=TIMEOUT_S, max_queue_wait_s=0).start(timeout=300)
    yield server
    server.stop()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body (its head and body may arrive in separate reads)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"<EOF>"
        assert not data.endswith(b"<EOF>"), data
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, data
        body += chunk
    assert len(body) == length, (head, body)   # nothing of a next response
    return head + b"\r\n\r\n" + body


def closed(sock: socket.socket, within: float) -> bool:
    """The server closed ``sock`` (EOF or reset) within ``within`` seconds; whatever it answered is read."""
    sock.settimeout(within)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def test_huge_headers_are_refused_with_bounded_memory(proc):
    """Four clients each sending a header of up to 50 MB: each is cut off after a little, and the
    server's memory barely moves (before: each 100 MB header was held whole)."""
    before = rss_mb(proc.proc.pid)
    sent = [0] * 4

    def flood(i: int) -> None:
        sock = socket.create_connection(("127.0.0.1", proc.port))
        chunk = b"a" * 65536
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while sent[i] < 50 * 1024 * 1024:
                sock.sendall(chunk)
                sent[i] += len(chunk)
        except OSError:
            pass   # cut off: what the test wants
        finally:
            sock.close()

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    grew = rss_mb(proc.proc.pid) - before
    print(f"header bytes sent before the cut: {sent}; server RSS grew {grew:.1f} MB")
    assert all(s < 20 * 1024 * 1024 for s in sent), sent   # far less is read; the socket buffers take the rest
    assert grew < 50, (before, grew)
    assert httpx.get(proc.url + "/health", timeout=10).status_code == 200


def test_a_head_of_normal_size_is_served(proc):
    r = httpx.get(proc.url + "/health", headers={"X-Fine": "b" * 8000}, timeout=10)
    assert r.status_code == 200


def test_slowloris_sockets_are_closed_within_the_timeout(proc):
    """Twenty clients trickling one header line every 0.3 s: every socket is closed within a few
    HEADER_READ_TIMEOUT_S (before: never)."""
    socks = [socket.create_connection(("127.0.0.1", proc.port)) for _ in range(20)]
    began = time.monotonic()
    for sock in socks:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
    done = set()
    while len(done) < len(socks) and time.monotonic() - began < 10 * TIMEOUT_S:
        for i, sock in enumerate(socks):
            if i in done:
                continue
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                done.add(i)
                continue
            if closed(sock, 0.01):
                done.add(i)
        time.sleep(0.3)
    elapsed = time.monotonic() - began
    for sock in socks:
        sock.close()
    print(f"slowloris: {len(done)} of {len(socks)} sockets closed after {elapsed:.2f} s")
    assert len(done) == len(socks) and elapsed < 5 * TIMEOUT_S + 2, (len(done), elapsed)


def test_a_long_response_and_keep_alive_outlive_the_head_timeout(proc):
    """The deadline is for the head only: a response read for longer than it is not cut, and a kept-alive
    connection idle for longer than it (less than uvicorn's 5 s keep-alive) serves the next request."""
    with httpx.Client(base_url=proc.url, timeout=60) as http:
        with http.stream("POST", "/v1/audio/speech", json={"input": "Hello there. A second sentence.",
                                                           "voice": "af_heart", "response_format": "pcm"}) as r:
            body = r.iter_raw()
            first = next(body)
            time.sleep(2.5 * TIMEOUT_S)
            rest = b"".join(body)   # to its clean end
        assert r.status_code == 200 and len(first + rest) > 24_000
    sock = socket.create_connection(("127.0.0.1", proc.port))
    try:
        sock.settimeout(10)
        for _ in range(2):
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(2.5 * TIMEOUT_S)
    finally:
        sock.close()


def test_a_websocket_message_is_bounded_by_the_protocol(proc):
    """STREAM_MAX_MESSAGE_BYTES is uvicorn's ws_max_size under ``python -m api``: a larger frame is refused
    before it is buffered (close 1009)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(proc.url.replace("http://", "ws://") + "/v1/audio/speech/stream", open_timeout=30,
                 max_size=None) as ws:
        ws.send('{"type": "text", "text": "' + "x" * 100_000 + '"}')
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=20)
        assert ws.close_code == 1009
