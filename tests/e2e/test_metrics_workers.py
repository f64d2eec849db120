"""``python -m api`` with WORKERS=2: /metrics sums both worker processes, whichever of them answers."""
import re
import subprocess
import sys
import time

import httpx

from tests.support.paths import REPO_ROOT
from tests.support.server import ServerProcess

REQUESTS = 8
MIRROR_PERIOD_S = 1.0


class ApiProcess(ServerProcess):
    """``python -m api`` (HOST/PORT from the env), the way the container starts the server."""

    def start(self, wait: bool = True, timeout: float = 120) -> "ApiProcess":
        self.env.update(HOST="127.0.0.1", PORT=str(self.port))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "api"], cwd=REPO_ROOT, env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready(timeout)
        return self


def scrape(url: str) -> dict:
    """The samples of one /metrics answer (a new connection: any worker may answer it)."""
    text = httpx.get(url + "/metrics", timeout=10, headers={"Connection": "close"}).text
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(kokoro_\S+) ([0-9.e+-]+)$", text, re.M)}


def test_metrics_aggregate_over_workers(v1_model_dir, tmp_path):
    temp = tmp_path / "tmp"     # where python -m api makes its fresh PROMETHEUS_MULTIPROC_DIR
    temp.mkdir()
    server = ApiProcess(v1_model_dir, tmp_path / "server.log", workers=2, torch_threads=1, tmpdir=temp)
    server.start(timeout=150)
    try:
        dirs = list(temp.glob("kokoro-metrics-*"))
        assert len(dirs) == 1, server.log()
        for i in range(REQUESTS):
            r = httpx.post(server.url + "/v1/audio/speech", timeout=60, headers={"Connection": "close"},
                           json={"input": f"Request number {i}.", "voice": "af_heart", "response_format": "pcm"})
            assert r.status_code == 200, r.text
        time.sleep(MIRROR_PERIOD_S * 2.5)   # every worker has mirrored what it did
        scrapes = [scrape(server.url) for _ in range(5)]
        done = scrapes[0]['kokoro_chunks_total{outcome="done"}']
        # each worker built and warmed v1_0 once: one process alone would say 1
        assert scrapes[0]['kokoro_model_builds_total{version="v1_0"}'] == 2, server.log()
        assert done >= REQUESTS + 2       # every request's chunk plus each worker's warm-up
        for s in scrapes:
            for name in ('kokoro_chunks_total{outcome="done"}', 'kokoro_model_builds_total{version="v1_0"}',
                         "kokoro_audio_seconds_total", "kokoro_batch_size_count", "kokoro_queued_chunks"):
                assert s[name] == scrapes[0][name], name
        assert scrapes[0]["kokoro_batch_size_count"] >= REQUESTS + 2   # histograms: native multiprocess files
        assert scrapes[0]["kokoro_queued_chunks"] == 0
        assert any(dirs[0].glob("counter_*.db")) and any(dirs[0].glob("gauge_livesum_*.db"))
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.log()
    assert not dirs[0].exists()           # removed when the server exits
