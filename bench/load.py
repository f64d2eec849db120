#!/usr/bin/env python
"""Throughput and time to first audio under load: our scheduler against a serial baseline, same run.

    python bench/load.py [--concurrency 1,4,16,64] [--duration 60] [--quick] [--url URL]

N concurrent clients (threads, one HTTP connection each) stream ``POST /v1/audio/speech``
(``response_format: pcm``) back to back for ``--duration`` seconds (a request started before the end
runs to completion). Each client draws its texts from a fixed-seed mix of short replies and long
paragraphs, so both configurations get the same requests. A client refused with 429 counts a
rejection and waits its ``Retry-After`` (capped by the time left) before the next request.

Configurations, both started here on the full-size random v1.0 model (~3 frames per phoneme; see
bench/overhead.py, whose model and server helpers this reuses), up side by side, runs interleaved so
load from other jobs hits both alike:
  * ``scheduler``: the server's defaults (MAX_BATCH_SIZE by device, fair policy, MAX_QUEUE_WAIT_S).
  * ``serial``: MAX_BATCH_SIZE=1, SCHEDULING_POLICY=fifo, MAX_QUEUE_WAIT_S=0: one chunk at a time in
    arrival order, never refusing, as other Kokoro servers run.
Both get request caps above the largest concurrency, so 429s come only from the work bound.
With ``--url`` only that running server is measured (no baseline, no RSS).

One line per configuration and concurrency: requests, audio seconds, wall seconds, audio-seconds per
wall-second, time to first audio (first body byte) p50/p95, 429s, peak RSS of the server process
(VmHWM, so the peak so far), GPU memory (nvidia-smi, when present) and the cores other processes of
the machine kept busy meanwhile (noise: on a shared machine compare only lines where it is low);
then the ratio line.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overhead import (DEFAULT_MODEL_DIR, REPO_ROOT, SAMPLE_RATE, TEXTS, VOICES, Server,  # noqa: E402
                      _reexec_under_tcmalloc, ensure_model, machine_busy, percentile, process_cpu)

# Short replies as an assistant gives them, beside overhead.py's paragraphs (its "medium" and "long").
REPLIES = [
    TEXTS["short"],
    "Done. I've set a reminder for 7:30 tomorrow morning.",
    "It's 18 degrees and cloudy in Lisbon right now, with rain expected after 4 p.m.",
    "Sorry, I couldn't find a flight under $300 for those dates. Want me to try the weekend?",
    "Yes, the pharmacy on Elm Street is open until 9 tonight.",
]
MIX = [("reply", 0.6), ("medium", 0.3), ("long", 0.1)]
QUICK_MIX = [("reply", 0.7), ("medium", 0.3)]

SERIAL_ENV = {"MAX_BATCH_SIZE": "1", "SCHEDULING_POLICY": "fifo", "MAX_QUEUE_WAIT_S": "0"}


def pick_text(rng: random.Random, mix) -> str:
    kind = rng.choices([k for k, _ in mix], weights=[w for _, w in mix])[0]
    return rng.choice(REPLIES) if kind == "reply" else TEXTS[kind]


class Outcome:
    """One client's requests: TTFA and audio seconds of each accepted one, and its 429s."""

    def __init__(self):
        self.ttfa: list[float] = []
        self.audio = 0.0
        self.rejected = 0
        self.errors: list[str] = []


def client(url: str, seed: int, mix, deadline: float, timeout: float, out: Outcome) -> None:
    import httpx

    rng = random.Random(seed)
    with httpx.Client(timeout=httpx.Timeout(10.0, read=timeout), trust_env=False) as http:
        while time.monotonic() < deadline:
            body = {"model": "kokoro", "input": pick_text(rng, mix), "voice": rng.choice(VOICES),
                    "response_format": "pcm", "seed": rng.randrange(2**31)}
            t0 = time.perf_counter()
            ttfa = None
            nbytes = 0
            try:
                with http.stream("POST", url + "/v1/audio/speech", json=body) as resp:
                    if resp.status_code == 429:
                        resp.read()
                        out.rejected += 1
                        wait = float(resp.headers.get("retry-after", "1"))
                        time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
                        continue
                    if resp.status_code != 200:
                        resp.read()
                        out.errors.append(f"{resp.status_code}: {resp.text[:200]}")
                        return
                    for data in resp.iter_raw():
                        if data and ttfa is None:
                            ttfa = time.perf_counter() - t0
                        nbytes += len(data)
            except httpx.HTTPError as exc:
                out.errors.append(repr(exc))
                return
            out.ttfa.append(ttfa if ttfa is not None else time.perf_counter() - t0)
            out.audio += nbytes / 2 / SAMPLE_RATE


def peak_rss_mb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def gpu_mb(pid: int | None) -> float:
    """GPU memory nvidia-smi reports for the server process (nan without a GPU)."""
    if pid is None or not shutil.which("nvidia-smi"):
        return float("nan")
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return float("nan")
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid):
            return float(parts[1])
    return float("nan")


class Target:
    """A server to load: one we started (with its process) or a running one at a URL."""

    def __init__(self, name: str, url: str, pid: int | None):
        self.name, self.url, self.pid = name, url, pid


def own_cpu(pids: list[int]) -> float:
    """CPU seconds used by this process and the servers we started."""
    total = time.process_time()
    for pid in pids:
        try:
            total += process_cpu(pid)
        except OSError:
            pass
    return total


def run_load(target: Target, concurrency: int, duration: float, mix, seed: int, timeout: float,
             pids: list[int]) -> dict:
    outcomes = [Outcome() for _ in range(concurrency)]
    busy0, own0 = machine_busy(), own_cpu(pids)
    deadline = time.monotonic() + duration
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(target.url, seed * 1000 + i, mix, deadline, timeout, o), daemon=True)
               for i, o in enumerate(outcomes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + timeout + 60)
    wall = time.perf_counter() - t0
    others = max(0.0, (machine_busy() - busy0) - (own_cpu(pids) - own0)) / wall   # cores other jobs used
    errors = [e for o in outcomes for e in o.errors]
    if errors:
        raise RuntimeError(f"{target.name} c={concurrency}: {len(errors)} request(s) failed, first: {errors[0]}")
    ttfa = [t for o in outcomes for t in o.ttfa]
    audio = sum(o.audio for o in outcomes)
    return {"requests": len(ttfa), "audio": audio, "wall": wall, "throughput": audio / wall,
            "p50": percentile(ttfa, 50), "p95": percentile(ttfa, 95), "rejected": sum(o.rejected for o in outcomes),
            "rss": peak_rss_mb(target.pid), "gpu": gpu_mb(target.pid), "others": others}


HEADER = (f"{'config':<10} {'c':>3} {'reqs':>5} {'audio s':>8} {'wall s':>7} {'audio s/s':>9} "
          f"{'TTFA p50':>8} {'TTFA p95':>8} {'429s':>5} {'peak RSS MB':>11} {'GPU MB':>7} {'other cores':>11}")


def line(name: str, c: int, r: dict) -> str:
    return (f"{name:<10} {c:>3} {r['requests']:>5} {r['audio']:>8.1f} {r['wall']:>7.1f} {r['throughput']:>9.2f} "
            f"{r['p50']:>8.2f} {r['p95']:>8.2f} {r['rejected']:>5} {r['rss']:>11.0f} {r['gpu']:>7.0f} {r['others']:>11.2f}")


@contextmanager
def server_env(**env: str):
    """Overhead's Server copies os.environ when it starts: give it these settings, then restore."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", default="1,4,16,64", help="comma-separated client counts")
    p.add_argument("--duration", type=float, help="seconds each client keeps starting requests (default 60, quick 15)")
    p.add_argument("--quick", action="store_true",
                   help="short run: replies and medium paragraphs only, 15 s per level unless --duration is given")
    p.add_argument("--url", help="load this running server instead (no baseline)")
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--threads", type=int, default=0, help="TORCH_THREADS for the servers (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds any one request may take")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra setting for both servers (repeatable), e.g. MAX_BATCH_SIZE=8")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.duration is None:
        args.duration = 15.0 if args.quick else 60.0
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    mix = QUICK_MIX if args.quick else MIX
    if not args.url:
        _reexec_under_tcmalloc()
    os.chdir(REPO_ROOT)
    began = time.perf_counter()
    servers: list[Server] = []
    try:
        if args.url:
            targets = [Target("server", args.url.rstrip("/"), None)]
        else:
            ensure_model(args.model_dir)
            cap = str(max(64, 4 * max(levels)))
            common = {"LOG_LEVEL": "WARNING", "MAX_ACTIVE_REQUESTS": cap,
                      **dict(e.split("=", 1) for e in args.env)}
            for env in (common, {**common, **SERIAL_ENV}):
                with server_env(**env):
                    servers.append(Server(args.model_dir, args.threads or None, settings={}))
            for s in servers:
                s.wait_ready()
            targets = [Target("scheduler", servers[0].url, servers[0].proc.pid),
                       Target("serial", servers[1].url, servers[1].proc.pid)]
            print(f"model: full-size random v1_0 in {args.model_dir}; both servers: {common}; "
                  f"serial adds {SERIAL_ENV}; LD_PRELOAD={os.environ.get('LD_PRELOAD') or '-'}; {os.cpu_count()} CPUs")
        print(f"mix {mix}, {args.duration:g} s per level, seed {args.seed}; setup {time.perf_counter() - began:.0f}s",
              flush=True)
        print(HEADER, flush=True)
        results: dict[tuple[str, int], dict] = {}
        for c in levels:
            for target in targets:
                results[target.name, c] = r = run_load(target, c, args.duration, mix, args.seed, args.timeout,
                                                       [s.proc.pid for s in servers])
                print(line(target.name, c, r), flush=True)
            if len(targets) == 2:
                a, b = results["scheduler", c], results["serial", c]
                print(f"{'ratio':<10} {c:>3}  throughput scheduler/serial {a['throughput'] / b['throughput']:.2f}x, "
                      f"TTFA p95 {a['p95'] / b['p95']:.2f}x (below 1: better), 429s {a['rejected']} vs {b['rejected']}",
                      flush=True)
        print(f"total {time.perf_counter() - began:.0f}s")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        for s in servers:
            print(f"error: {exc}\n--- {s.url} log tail ---\n{s.log_tail()}", file=sys.stderr)
        raise
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
