"""Probes answer HEAD, and a streamed response cut on purpose (a client that stopped reading, the
shutdown drain) is logged as the request's one line, ``status=cut: <why>``, with no traceback."""
import json
import signal
import socket

import httpx
import pytest

from tests.support.http_calls import HELD_TEXT, metric
from tests.support.server import ServerProcess
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def proc(v1_model_dir, tmp_path_factory):
    server = ServerProcess(v1_model_dir, tmp_path_factory.mktemp("cuts") / "server.log", model_free=True,
                           slow_reader_timeout_s=1,
                           max_queue_wait_s=0).start()
    yield server
    server.stop()


@pytest.mark.parametrize("path", ["/health", "/health/live"])
def test_probes_answer_head(proc, path):
    r = httpx.head(proc.url + path, timeout=10)
    assert r.status_code == 200 and r.content == b""


def quiet(log: str) -> bool:
    return "Traceback" not in log and "Exception in ASGI application" not in log and "unhandled error" not in log


@pytest.mark.timeout(300)
def test_a_slow_reader_cut_is_one_line(proc):
    """A raw socket with a tiny receive buffer that never reads: once the buffers are full the server
    cuts it after SLOW_READER_TIMEOUT_S (the metric), and the request ends with one line saying so (at
    the latest once the client leaves)."""
    body = json.dumps({"input": HELD_TEXT, "voice": "af_heart", "response_format": "pcm", "speed": 0.25}).encode()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", proc.port))
    try:
        sock.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        # filling the server's socket buffer (~4 MB of audio) takes a few seconds of synthesis
        # cut by the bound on one send (SLOW_READER_TIMEOUT_S), or by the scheduler's unread-audio cut
        assert eventually(lambda: metric(proc, "kokoro_clients_cut_total") + metric(
            proc, "kokoro_slow_readers_cut_total") >= 1, timeout=120)
    finally:
        sock.close()
    assert eventually(lambda: "status=cut: the client took no audio" in proc.log(), timeout=30), proc.log_tail()
    log = proc.log()
    assert quiet(log), log
    assert len([line for line in log.splitlines() if "status=cut" in line]) == 1


@pytest.mark.timeout(180)
def test_a_drain_abort_is_one_line(v1_model_dir, tmp_path):
    server = ServerProcess(v1_model_dir, tmp_path / "server.log", model_free=True, shutdown_grace_s=0.5,
                           max_queue_wait_s=0).start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            with http.stream("POST", "/v1/audio/speech", json={"input": HELD_TEXT, "voice": "af_heart",
                                                               "response_format": "pcm", "speed": 0.25}) as r:
                body = r.iter_raw()
                next(body)
                server.proc.send_signal(signal.SIGTERM)
                with pytest.raises(httpx.RemoteProtocolError):   # aborted, never a clean end
                    for _ in body:
                        pass
        server.proc.wait(30)
        log = server.log()
        assert "status=cut: the server shut down before this request finished" in log, log
        assert quiet(log), log
    finally:
        server.stop()
