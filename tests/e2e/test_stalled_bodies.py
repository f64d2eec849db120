"""Clients that send headers and then stall their body hold no admission slot, and are cut off (408)."""
import socket
import time

import httpx
import pytest

from tests.conftest import ServerProcess


@pytest.fixture(scope="module")
def guarded(v1_model_dir, tmp_path_factory):
    proc = ServerProcess(v1_model_dir, tmp_path_factory.mktemp("logs-stall") / "server.log",
                         max_active_requests=4, body_read_timeout_s=3).start()
    yield proc
    proc.stop()


def stalled_socket(server, partial: bytes = b'{"input": "', path: str = "/v1/audio/speech") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"POST {path} HTTP/1.1\r\n".encode() + b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n" + partial)
    return sock


def read_answer(sock: socket.socket) -> bytes:
    """What the server sends back on a raw socket, up to the end of a JSON body (or the close)."""
    answer = b""
    while b"\r\n\r\n" not in answer or b"}" not in answer:
        data = sock.recv(4096)
        if not data:
            break
        answer += data
    return answer


def test_twenty_stalled_bodies_do_not_deny_service(guarded):
    sockets = [stalled_socket(guarded) for _ in range(20)]
    try:
        time.sleep(0.5)   # all twenty are in the server now
        began = time.monotonic()
        r = httpx.post(guarded.url + "/v1/audio/speech", timeout=30,
                       json={"input": "Served at once.", "voice": "af_heart", "response_format": "pcm"})
        assert r.status_code == 200, r.text
        assert time.monotonic() - began < 2.5   # well before the stalled ones time out
    finally:
        for sock in sockets:
            sock.close()


def test_a_stalled_body_gets_408_after_the_timeout(guarded):
    sock = stalled_socket(guarded)
    try:
        began = time.monotonic()
        answer = read_answer(sock)
        elapsed = time.monotonic() - began
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"body_timeout"' in answer and b"BODY_READ_TIMEOUT_S" in answer
        assert 2 < elapsed < 15
    finally:
        sock.close()
