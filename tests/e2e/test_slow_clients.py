"""Clients that stop reading or leave give their place back at once, through real sockets.

- Clients that never read a streamed answer: once a send has waited SLOW_READER_TIMEOUT_S, the request is
  cancelled (its job closed, its place freed) and the server closes the connection, while the clients
  still hold their sockets open; everyone else is served meanwhile.
- A ``stream: false`` request whose client disconnects stops synthesizing then, not at its end.
"""
import json
import socket
import time

import httpx
import pytest

from tests.support.http_calls import metric
from tests.support.server import AppServer
from tests.support.waiting import eventually

TEXT = " ".join(f"Sentence {i} is read by nobody, so the buffers fill up and stay full." for i in range(150))


def raw_request(server, body: dict, rcvbuf: int = 4096) -> socket.socket:
    """A POST /v1/audio/speech on a socket with a tiny receive buffer, sent and then never read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", server.port))
    data = json.dumps(body).encode()
    sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
    return sock


def read_to_end(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sent, up to its close (socket.timeout if it never closes)."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.fixture(scope="module")
def server(v1_model_dir):
    # the cut of a send is what is tested: the supervisor's cut of unread audio is far off
    proc = AppServer(v1_model_dir, model_free=True, max_active_requests=2, max_queue_wait_s=0, slow_reader_timeout_s=2,
                     chunk_cache_mb=0)
    # accepted sockets inherit the listener's send buffer: a few KB instead of loopback's autotuned MBs, so
    # a client that does not read stalls the server's sends after a few chunks even on a slow CPU
    proc._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    proc.start()
    yield proc
    proc.stop()


@pytest.mark.timeout(240)
def test_clients_that_stop_reading_are_cut_and_their_places_freed(server):
    body = {"input": TEXT, "voice": "af_heart", "response_format": "pcm", "speed": 0.25}
    socks = [raw_request(server, body) for _ in range(2)]
    try:
        assert eventually(lambda: metric(server, "kokoro_inflight_requests") == 2, timeout=60)
        # the sockets stay open and unread: the sends stall, then the server gives up on them
        assert eventually(lambda: metric(server, "kokoro_inflight_requests") == 0, timeout=120)
        assert metric(server, "kokoro_active_requests") == 0 and metric(server, "kokoro_queued_chunks") == 0
        assert metric(server, "kokoro_clients_cut_total") == 2
        ok = httpx.post(server.url + "/v1/audio/speech", timeout=60,
                        json={"input": "Room again.", "voice": "af_heart", "response_format": "pcm"})
        assert ok.status_code == 200 and ok.content
        for sock in socks:   # what was buffered, then the server's close; never the chunked body's end
            answer = read_to_end(sock, timeout=30)
            assert answer.startswith(b"HTTP/1.1 200") and not answer.endswith(b"0\r\n\r\n")
    finally:
        for sock in socks:
            sock.close()
    assert "SLOW_READER_TIMEOUT_S" in server.log()


@pytest.mark.timeout(240)
def test_a_whole_answer_stops_when_its_client_leaves(server):
    chunks = metric(server, 'kokoro_chunks_total{outcome="done"}')
    sock = raw_request(server, {"input": TEXT, "voice": "af_heart", "response_format": "pcm", "speed": 0.25,
                                "stream": False})
    try:
        assert eventually(lambda: metric(server, 'kokoro_chunks_total{outcome="done"}') > chunks, timeout=60)
    finally:
        sock.close()
    left = time.monotonic()
    assert eventually(lambda: metric(server, "kokoro_inflight_requests") == 0, timeout=20)
    assert metric(server, "kokoro_active_requests") == 0 and metric(server, "kokoro_clients_gone_total") >= 1
    done = metric(server, 'kokoro_chunks_total{outcome="done"}')
    assert done < chunks + 20, "the request went on synthesizing after its client left"
    print(f"freed {time.monotonic() - left:.1f} s after the client left")
