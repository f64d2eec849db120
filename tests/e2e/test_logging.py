"""One log line per speech request, with its fields; the input text only when LOG_INPUT_TEXT says so."""
import json

import httpx

from tests.support.server import ServerProcess
from tests.support.waiting import eventually

SECRET = "The vault code is seven four one nine. Nobody may log it."
FIELDS = {"event", "request_id", "version", "voice", "chars", "chunks", "audio_s", "ttfa_ms", "rtf", "cache_hits",
          "status"}


def speech_records(proc) -> list[dict]:
    records = []
    for line in proc.log().splitlines():
        if line.startswith("{"):
            record = json.loads(line)["record"]
            if record["extra"].get("event") == "speech":
                records.append(record)
    return records


def test_json_lines_carry_the_request_fields_and_never_the_text(v1_model_dir, tmp_path):
    proc = ServerProcess(v1_model_dir, tmp_path / "server.log", model_free=True, log_json="true").start()
    try:
        r = httpx.post(proc.url + "/v1/audio/speech", headers={"X-Request-ID": "soak-42"}, timeout=60,
                       json={"input": SECRET, "voice": "af_bella", "response_format": "pcm", "stream": False})
        assert r.status_code == 200 and r.headers["x-request-id"] == "soak-42"
        with httpx.stream("POST", proc.url + "/v1/audio/speech", timeout=60,
                          json={"input": SECRET, "voice": "af_heart(1)+am_adam(1)", "stream_format": "sse"}) as s:
            streamed_id = s.headers["x-request-id"]
            s.read()
        assert eventually(lambda: len(speech_records(proc)) == 2, timeout=10), proc.log()
        first, second = speech_records(proc)
        for record in (first, second):
            assert FIELDS <= set(record["extra"]), record["extra"]
            assert record["extra"]["status"] == "ok" and record["extra"]["version"] == "v1_0"
            assert record["extra"]["chars"] == len(SECRET) and record["extra"]["chunks"] >= 1
            assert record["extra"]["ttfa_ms"] >= 0 and record["extra"]["rtf"] > 0
            assert isinstance(record["extra"]["cache_hits"], int)
            assert "input" not in record["extra"]
        assert first["extra"]["request_id"] == "soak-42" and first["extra"]["voice"] == "af_bella"
        assert second["extra"]["request_id"] == streamed_id and "+" in second["extra"]["voice"]
        assert "vault code" not in proc.log()
    finally:
        proc.stop()


def test_log_input_text_puts_the_text_in_the_line(v1_model_dir, tmp_path):
    proc = ServerProcess(v1_model_dir, tmp_path / "server.log", model_free=True, log_input_text="true").start()
    try:
        r = httpx.post(proc.url + "/v1/audio/speech", timeout=60,
                       json={"input": SECRET, "voice": "af_heart", "response_format": "pcm"})
        assert r.status_code == 200
        request_id = r.headers["x-request-id"]
        assert eventually(lambda: "status=ok" in proc.log(), timeout=10)
        line = next(ln for ln in proc.log().splitlines() if "speech version=" in ln)
        assert f"| {request_id} |" in line and "cache_hits=" in line and "ttfa=" in line and "rtf=" in line
        assert f"input={SECRET!r}" in line
    finally:
        proc.stop()
