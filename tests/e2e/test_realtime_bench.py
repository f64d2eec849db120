"""bench/realtime.py --quick against the shared model-free server, so that the script cannot rot: every
kind of client (the WebSocket route, a POST per sentence, one POST for the whole reply) gets its audio,
the barge-in's cancel ends its context, and the concurrent runs probe /health. The numbers themselves
mean nothing here (no network runs); the bench on real weights is what measures."""
import json
import subprocess
import sys

import pytest

from tests.support.paths import REPO_ROOT


@pytest.mark.timeout(180)
def test_realtime_bench_quick(server, tmp_path):
    out = tmp_path / "realtime.json"
    run = subprocess.run([sys.executable, "bench/realtime.py", "--quick", "--url", server.url, "--json", str(out)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=170)
    assert run.returncode == 0, f"bench failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "| 40 | socket |" in run.stdout, run.stdout   # the markdown table
    result = json.loads(out.read_text())

    runs = {row["kind"]: row for row in result["runs"]}
    assert set(runs) == {"socket", "http-A", "http-B"}
    for kind, row in runs.items():
        assert row["errors"] == [], (kind, row["errors"])
        assert row["audio_s"] > 1, (kind, row)
        assert row["first_audio_s"] is not None and row["stalls_s"] is not None and row["tail_s"] is not None, row
    # the same text, the same words: the three clients get about as much audio
    lengths = [row["audio_s"] for row in runs.values()]
    assert max(lengths) < 1.5 * min(lengths), lengths

    barge = {row["kind"]: row for row in result["barge_in"]}
    assert barge["socket"]["done_reason"] == "cancelled", barge["socket"]
    assert barge["socket"]["cancel_to_done_s"] is not None, barge["socket"]
    for row in barge.values():
        assert row["next_first_audio_s"] is not None and row["errors"] == [], row

    assert [row["kind"] for row in result["concurrent"]] == ["socket", "http-A", "http-B"]
    for row in result["concurrent"]:
        assert row["clients"] == 2 and len(row["per_client"]) == 2, row
        assert row["health_probes"] > 0 and row["health_failures"] == [], row
        assert row["errors"] == [] and row["first_audio_p95_s"] is not None, row


@pytest.mark.timeout(240)
def test_realtime_bench_wyoming_row(model_dir, tmp_path):
    """The Wyoming client of the bench (issue 24): Home Assistant's streamed sequence, audio back."""
    from tests.support.server import AppServer, free_port

    port = free_port()
    server = AppServer(model_dir, model_free=True, wyoming_port=port).start()
    try:
        out = tmp_path / "realtime.json"
        run = subprocess.run([sys.executable, "bench/realtime.py", "--quick", "--url", server.url,
                              "--wyoming", f"127.0.0.1:{port}", "--kinds", "wyoming,socket", "--phases", "runs",
                              "--json", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=220)
    finally:
        server.stop()
    assert run.returncode == 0, f"bench failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    runs = {row["kind"]: row for row in json.loads(out.read_text())["runs"]}
    assert runs["wyoming"]["errors"] == [] and runs["wyoming"]["first_audio_s"] is not None, runs["wyoming"]
    assert abs(runs["wyoming"]["audio_s"] - runs["socket"]["audio_s"]) < 0.3 * runs["socket"]["audio_s"], runs
