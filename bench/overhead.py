#!/usr/bin/env python
"""How much slower is our server than calling ``kokoro.KPipeline`` directly, on the same model?

    python bench/overhead.py [--model-dir DIR] [--runs N] [--text-file F]

Model: the full-size random Kokoro v1.0 (``api.src.tools.random_model``, ~3 frames per phoneme, as a
trained model speaks), written once into ``bench/.cache/models`` and reused. No hub access.

Both sides run in the same conditions: the same torch thread count (torch's default unless
``--threads``), the same allocator (the script re-executes itself under ``LD_PRELOAD`` of tcmalloc
when Debian's libtcmalloc-minimal4 is installed, installing it with apt-get when root; the server
child inherits it), the same machine at the same time: runs of the two are interleaved (ABBA order)
so that load from other jobs hits both alike.

  * baseline: ``KPipeline(lang_code="a", model=<KModel from api.src.inference.weights.load_kmodel>)``
    in this process, voice given as the .pt path. TTFA = wall time to the first yielded audio.
  * server: ``python -m uvicorn api.src.main:app`` in a child process (MODEL_DIR, LOG_LEVEL=WARNING),
    streamed ``POST /v1/audio/speech`` with ``response_format: pcm``; TTFA = time to the first body
    byte; audio seconds = bytes / 2 / 24000. mp3 is measured too, for information.

Scenarios: single stream (sequential requests; median of the runs) and N concurrent clients (each
sends the same mix of texts, starting at a different one). At concurrency the baseline is a *serial
server*: the clients' requests run one after another in arrival order (FIFO) on one KPipeline. That is
the fairer reference for throughput: one model on 2 cores cannot do better than back to back, and
4 threads sharing the model would oversubscribe the cores (4 x torch threads), making the baseline
slower than it needs to be. A request's TTFA there includes its wait in the queue.

Overhead = server RTF / KPipeline RTF - 1 (RTF = wall seconds / audio seconds). Goal: < 10% on a single
stream. Chunk counts differ by design: the server cuts at sentences into chunks of 175-250 phonemes
after a short first chunk (<= 100), KPipeline fills chunks up to 510 phonemes.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from tests.support.server import ServerProcess, free_port  # noqa: E402  (one server helper with the tests)

DEFAULT_MODEL_DIR = REPO_ROOT / "bench" / ".cache" / "models"
LOG_DIR = REPO_ROOT / "bench" / ".cache" / "logs"
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
VOICES = ("af_heart", "af_bella", "am_adam", "bf_emma")
VOICE = "af_heart"
SAMPLE_RATE = 24_000
LONG_CHARS = 600  # texts longer than this get --long-runs runs instead of --runs

# Realistic English with numbers and punctuation: a reply, a paragraph of 5 sentences, one of 15.
TEXTS = {
    "short": "Sure! Your order #4521 shipped on March 3rd and should arrive in 2 to 3 days.",
    "medium": (
        "Thanks for calling Riverside Dental; we're open weekdays from 8:30 a.m. to 5 p.m. "
        "To reschedule, please give us 24 hours' notice, or a $25 fee may apply. "
        "New patients should arrive 15 minutes early. "
        "We accept most plans, including Delta, Cigna and Aetna. "
        "For emergencies, call 555-0142."
    ),
    "long": (
        "The city council met on Tuesday to discuss the 2025 budget of $48.6 million. "
        "Mayor Linda Park opened the session at 7:05 p.m. "
        "Road repair is the largest item, at $12.3 million. "
        "Parks will receive $3.1 million, up 8% from last year. "
        "Councilman Ortiz asked why library hours were cut from 60 to 52 a week. "
        "Staffing costs, the finance director said, rose 11% since 2023. "
        "The council agreed to restore 4 of those 8 hours. "
        "Residents raised concerns about bus Line 14, which skips two schools. "
        "One parent said her commute had doubled to 50 minutes. "
        "A review is promised by June 30th. "
        "Public safety spending stays flat at $9.8 million. "
        "The fire department will get 2 new engines, at $750,000 each. "
        "A final vote is set for November 12th. "
        "Until then, residents can comment online or by mail. "
        "The meeting ended at 10:40 p.m."
    ),
}


# -- same allocator on both sides ---------------------------------------------------------------
def _ensure_tcmalloc() -> str | None:
    if os.path.exists(TCMALLOC):
        return TCMALLOC
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing libtcmalloc-minimal4 with apt-get ...", flush=True)
        try:
            subprocess.run(["apt-get", "install", "-y", "-q", "libtcmalloc-minimal4"], check=False, timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"  apt-get failed: {exc}", flush=True)
    return TCMALLOC if os.path.exists(TCMALLOC) else None


def _reexec_under_tcmalloc() -> None:
    """Run this script again with tcmalloc preloaded, so the baseline gets the server's allocator."""
    if os.environ.get("_OVERHEAD_BENCH_CHILD"):
        return
    lib = _ensure_tcmalloc()
    preload = os.environ.get("LD_PRELOAD", "")
    if lib and lib not in preload.split():
        env = {**os.environ, "LD_PRELOAD": (preload + " " + lib).strip(), "_OVERHEAD_BENCH_CHILD": "1"}
        os.execve(sys.executable, [sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]], env)
    os.environ["_OVERHEAD_BENCH_CHILD"] = "1"


# -- small helpers ----------------------------------------------------------------------------------
def percentile(values, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values) -> float:
    return percentile(values, 50)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a live process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used (from /proc/stat)."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Result:
    """One request: time to first audio, total wall time, audio seconds, chunks, CPU of the serving process."""

    __slots__ = ("ttfa", "wall", "audio", "chunks", "nbytes", "cpu", "stall")

    def __init__(self, ttfa: float, wall: float, audio: float, chunks: int = 0, nbytes: int = 0,
                 cpu: float = float("nan"), stall: float = float("nan")):
        self.ttfa, self.wall, self.audio, self.chunks, self.nbytes, self.cpu = ttfa, wall, audio, chunks, nbytes, cpu
        self.stall = stall   # seconds a player that starts at the first byte waits for audio (pcm only)


class Playback:
    """A player that starts at the first audio it gets and plays in real time: total time it runs dry."""

    def __init__(self):
        self.runs_dry_at = None   # wall time at which the audio received so far has all been played
        self.stall = 0.0

    def received(self, at: float, seconds: float) -> None:
        if self.runs_dry_at is None or at > self.runs_dry_at:
            if self.runs_dry_at is not None:
                self.stall += at - self.runs_dry_at
            self.runs_dry_at = at
        self.runs_dry_at += seconds


# -- the model ----------------------------------------------------------------------------------------
def ensure_model(model_dir: Path):
    from api.src.builds import VERSIONS
    from api.src.tools.random_model import write_random_model

    spec = VERSIONS["v1_0"]
    if spec.missing_files(model_dir) or not all((spec.voices_dir(model_dir) / f"{v}.pt").exists() for v in VOICES):
        print(f"writing the full-size random v1_0 model to {model_dir} ...", flush=True)
        write_random_model(model_dir, version="v1_0", size="full", voices=VOICES, frames_per_phoneme=3.0)
    config = spec.load_config(spec.config_path(model_dir))
    if config.get("plbert", {}).get("num_hidden_layers") != 12:
        print(f"note: the model in {model_dir} is not the full-size architecture", flush=True)
    return spec, config


# -- baseline: KPipeline in this process -------------------------------------------------------------
class Baseline:
    def __init__(self, spec, config, model_dir: Path):
        from kokoro import KPipeline

        from api.src.inference.weights import load_kmodel

        model = load_kmodel(spec, config, spec.weights_path(model_dir))
        self.pipe = KPipeline(lang_code="a", repo_id="hexgrad/Kokoro-82M", model=model)
        self.voice = str(spec.voices_dir(model_dir) / f"{VOICE}.pt")

    def run(self, text: str, arrival: float | None = None) -> Result:
        """Synthesize ``text``; TTFA and wall are counted from ``arrival`` (default: now)."""
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        start = t0 if arrival is None else arrival
        ttfa = None
        samples = chunks = 0
        for r in self.pipe(text, voice=self.voice):
            if r.audio is None:
                continue
            pcm = r.audio.numpy()  # what a caller gets out: the samples as an array
            if ttfa is None:
                ttfa = time.perf_counter() - start
            samples += pcm.shape[0]
            chunks += 1
        wall = time.perf_counter() - start
        return Result(ttfa if ttfa is not None else wall, wall, samples / SAMPLE_RATE, chunks, 0,
                      time.process_time() - cpu0)


# -- our server, as users start it ---------------------------------------------------------------
# Like for like with KPipeline: no chunk cache (the runs repeat texts), no join trimming/pauses
# (KPipeline yields its chunks as they are), so both sides make the same seconds of audio; and no
# admission bound: throughput is measured here, every client is served however slow the machine.
LIKE_FOR_LIKE = {"CHUNK_CACHE_MB": "0", "TRIM_SILENCE": "false", "SENTENCE_PAUSE_S": "0", "CLAUSE_PAUSE_S": "0",
                 "WORD_PAUSE_S": "0", "MAX_QUEUE_WAIT_S": "0", "MAX_INFLIGHT_PER_WORKER": "64"}


class Server(ServerProcess):
    """``uvicorn api.src.main:app`` on a free loopback port (the tests' ``ServerProcess``), started at once
    in a session of its own; ``settings`` (default LIKE_FOR_LIKE) go to its environment over this
    process's, with LOG_LEVEL=WARNING and TORCH_THREADS only when ``threads`` is given."""

    DEFAULT_ENV = {"LOG_LEVEL": "WARNING"}
    NEW_SESSION = True

    def __init__(self, model_dir: Path, threads: int | None, settings: dict[str, str] | None = None):
        port = free_port()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        super().__init__(model_dir, LOG_DIR / f"server-{port}.log", bind_port=port,
                         **{**(LIKE_FOR_LIKE if settings is None else settings),
                            **({"TORCH_THREADS": threads} if threads else {})})
        self.env.pop("_OVERHEAD_BENCH_CHILD", None)
        self.start(wait=False)

    def wait_ready(self, timeout: float = 300) -> None:
        super().wait_ready(timeout)

    def cpu(self) -> float:
        return process_cpu(self.proc.pid)

    def run(self, client, text: str, fmt: str = "pcm", timeout: float = 300.0, measure_cpu: bool = True) -> Result:
        """One streamed request; every read is bounded, and so is the whole request."""
        body = {"model": "kokoro", "input": text, "voice": VOICE, "response_format": fmt, "stream": True}
        cpu0 = self.cpu() if measure_cpu else float("nan")
        t0 = time.perf_counter()
        ttfa = None
        nbytes = 0
        player = Playback()
        with client.stream("POST", self.url + "/v1/audio/speech", json=body) as resp:
            if resp.status_code != 200:
                resp.read()
                raise RuntimeError(f"server answered {resp.status_code}: {resp.text[:300]}")
            for data in resp.iter_raw():
                if data:
                    if ttfa is None:
                        ttfa = time.perf_counter() - t0
                    nbytes += len(data)
                    player.received(time.perf_counter(), len(data) / 2 / SAMPLE_RATE)
                if time.perf_counter() - t0 > timeout:
                    raise TimeoutError(f"request took over {timeout:.0f}s")
        wall = time.perf_counter() - t0
        audio = nbytes / 2 / SAMPLE_RATE if fmt == "pcm" else float("nan")
        cpu = self.cpu() - cpu0 if measure_cpu else float("nan")
        return Result(ttfa if ttfa is not None else wall, wall, audio, 0, nbytes, cpu,
                      player.stall if fmt == "pcm" else float("nan"))


def http_client(read_timeout: float):
    import httpx

    return httpx.Client(timeout=httpx.Timeout(10.0, read=read_timeout), trust_env=False)


# -- chunk counts ---------------------------------------------------------------------------------------
def server_chunks(texts: dict[str, str], config) -> dict[str, list[int]]:
    """Phonemes per chunk as the server cuts each text (same G2P, limits and filtering as SpeechService)."""
    from api.src.builds.v1_0.g2p import make_g2p
    from api.src.core.config import Settings
    from api.src.services.speech import limits_from
    from api.src.services.text_processing.chunker import iter_chunks

    limits = limits_from(Settings())
    vocab = config["vocab"]
    g2p = make_g2p("a")
    out = {}
    for name, text in texts.items():
        sizes = []
        for chunk in iter_chunks(text, g2p, limits):
            n = sum(1 for p in chunk.phonemes if p in vocab)
            if n:
                sizes.append(n)
        out[name] = sizes
    return out


def kpipeline_chunks(pipe, texts: dict[str, str], vocab) -> dict[str, list[int]]:
    """Phonemes per chunk as KPipeline cuts each text (its own G2P and chunking, without the model)."""
    model, pipe.model = pipe.model, None
    try:
        return {name: [sum(1 for p in r.phonemes if p in vocab) for r in pipe(text) if r.phonemes]
                for name, text in texts.items()}
    finally:
        pipe.model = model


# -- scenarios ----------------------------------------------------------------------------------------
class ForeignLoad:
    """How busy other processes kept the machine: all CPU used minus ours (this process and the server)."""

    def __init__(self, server: "Server"):
        self.server = server
        self.start()

    def _sample(self):
        return time.perf_counter(), machine_busy(), time.process_time() + self.server.cpu()

    def start(self) -> None:
        self._t0, self._busy0, self._own0 = self._sample()

    def cores(self) -> tuple[float, float]:
        """(average cores other processes used since start(), seconds elapsed)."""
        t, busy, own = self._sample()
        elapsed = max(t - self._t0, 1e-9)
        return max(0.0, (busy - self._busy0) - (own - self._own0)) / elapsed, elapsed


def pause() -> None:
    time.sleep(0.3)  # let the other side's OpenMP threads stop spinning before timing the next run


def single_stream(baseline: Baseline, server: Server, texts: dict[str, str], runs: dict[str, int],
                  timeout: float):
    """Sequential requests; baseline and server runs interleaved in ABBA order."""
    kp = {name: [] for name in texts}
    srv = {name: [] for name in texts}
    load = ForeignLoad(server)
    with http_client(timeout) as client:
        for i in range(max(runs.values())):
            for name, text in texts.items():
                if i >= runs[name]:
                    continue
                order = ("kp", "srv") if i % 2 == 0 else ("srv", "kp")
                load.start()
                for side in order:
                    pause()
                    if side == "kp":
                        kp[name].append(baseline.run(text))
                    else:
                        srv[name].append(server.run(client, text, "pcm", timeout))
                print(f"  run {i + 1} {name}: kpipeline {kp[name][-1].wall:.1f}s, server {srv[name][-1].wall:.1f}s "
                      f"(other processes meanwhile: {load.cores()[0]:.2f} cores busy)", flush=True)
    return kp, srv


def mp3_runs(server: Server, texts: dict[str, str], timeout: float) -> dict[str, Result]:
    with http_client(timeout) as client:
        out = {}
        for name, text in texts.items():
            pause()
            out[name] = server.run(client, text, "mp3", timeout)
        return out


def client_plans(names: list[str], clients: int) -> list[list[str]]:
    """Each client sends the whole mix, starting at a different text."""
    return [names[k % len(names):] + names[:k % len(names)] for k in range(clients)]


def concurrent_baseline(baseline: Baseline, texts: dict[str, str], plans: list[list[str]]):
    """A serial server: requests run back to back in arrival order (FIFO) on one KPipeline."""
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    pending = [(t0, k, 0) for k in range(len(plans))]  # (arrival, client, index in its plan)
    results = []
    while pending:
        pending.sort()
        arrival, k, j = pending.pop(0)
        res = baseline.run(texts[plans[k][j]], arrival=arrival)
        results.append(res)
        if j + 1 < len(plans[k]):
            pending.append((time.perf_counter(), k, j + 1))
    return results, time.perf_counter() - t0, time.process_time() - cpu0


def concurrent_server(server: Server, texts: dict[str, str], plans: list[list[str]], timeout: float):
    import threading

    results: list[Result] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(plans) + 1)
    lock = threading.Lock()

    def client_main(plan):
        with http_client(timeout) as client:
            barrier.wait()
            for name in plan:
                try:
                    res = server.run(client, texts[name], "pcm", timeout, measure_cpu=False)
                except BaseException as exc:  # reported by the main thread
                    with lock:
                        errors.append(exc)
                    return
                with lock:
                    results.append(res)

    threads = [threading.Thread(target=client_main, args=(plan,), daemon=True) for plan in plans]
    for t in threads:
        t.start()
    cpu0 = server.cpu()
    barrier.wait()
    t0 = time.perf_counter()
    deadline = t0 + timeout * max(len(p) for p in plans)
    for t in threads:
        while t.is_alive():  # short joins: Ctrl-C stays responsive
            t.join(0.2)
            if time.perf_counter() > deadline:
                raise TimeoutError("concurrent clients did not finish in time")
    wall = time.perf_counter() - t0
    cpu = server.cpu() - cpu0
    if errors:
        raise RuntimeError(f"a concurrent request failed: {errors[0]!r}")
    return results, wall, cpu


# -- report -------------------------------------------------------------------------------------------
HEADER = (f"{'scenario':<16} {'chunks kp/srv':>13} {'audio s kp/srv':>15} {'wall s kp/srv':>15} "
          f"{'RTF kp/srv':>13} {'TTFA p50 kp/srv':>16} {'TTFA p95 kp/srv':>16} {'CPU s kp/srv':>15} {'overhead':>9}")


def line(name, chunks, audio, wall, rtf, p50, p95, cpu) -> str:
    over = (rtf[1] / rtf[0] - 1) * 100
    return (f"{name:<16} {chunks:>13} {audio[0]:>7.1f}/{audio[1]:<7.1f} {wall[0]:>7.2f}/{wall[1]:<7.2f} "
            f"{rtf[0]:>6.3f}/{rtf[1]:<6.3f} {p50[0]:>7.2f}/{p50[1]:<8.2f} {p95[0]:>7.2f}/{p95[1]:<8.2f} "
            f"{cpu[0]:>7.1f}/{cpu[1]:<7.1f} {over:>+8.1f}%")


def single_line(name, kp: list[Result], srv: list[Result], chunks: str) -> str:
    rtf = (median([r.wall / r.audio for r in kp]), median([r.wall / r.audio for r in srv]))
    return line(name, chunks, (median([r.audio for r in kp]), median([r.audio for r in srv])),
                (median([r.wall for r in kp]), median([r.wall for r in srv])), rtf,
                (median([r.ttfa for r in kp]), median([r.ttfa for r in srv])),
                (percentile([r.ttfa for r in kp], 95), percentile([r.ttfa for r in srv], 95)),
                (median([r.cpu for r in kp]), median([r.cpu for r in srv])))


# -- main -----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR,
                   help="MODEL_DIR holding v1_0/ (written there if missing); default bench/.cache/models")
    p.add_argument("--runs", type=int, default=3, help="single-stream runs per text (median reported)")
    p.add_argument("--long-runs", type=int, default=1,
                   help=f"runs for texts over {LONG_CHARS} characters (the long paragraph costs ~1 min a run)")
    p.add_argument("--text-file", type=Path,
                   help="use this file's paragraphs (separated by blank lines) instead of the built-in texts")
    p.add_argument("--concurrency", type=int, default=4, help="clients in the concurrent scenario (0: skip)")
    p.add_argument("--concurrent-texts", default="short,medium",
                   help="comma-separated texts each concurrent client sends ('all' for every text)")
    p.add_argument("--mp3-texts", default="short",
                   help="comma-separated texts also requested as mp3 once, for information ('' to skip)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for both sides (default: torch's default, which the server uses too)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds any one request may take")
    return p.parse_args(argv)


def load_texts(args) -> dict[str, str]:
    if not args.text_file:
        return dict(TEXTS)
    paragraphs = [" ".join(p.split()) for p in args.text_file.read_text(encoding="utf-8").split("\n\n")]
    texts = {f"text{i + 1}": p for i, p in enumerate(x for x in paragraphs if x)}
    if not texts:
        raise SystemExit(f"{args.text_file} has no text")
    return texts


def main(argv=None) -> int:
    args = parse_args(argv)
    _reexec_under_tcmalloc()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the baseline must never reach the hub
    os.chdir(REPO_ROOT)
    began = time.perf_counter()

    import signal

    def _terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    texts = load_texts(args)
    if args.concurrent_texts == "all" or args.text_file:
        mix = list(texts)
    else:
        mix = [n.strip() for n in args.concurrent_texts.split(",") if n.strip()]
        unknown = [n for n in mix if n not in texts]
        if unknown:
            raise SystemExit(f"unknown --concurrent-texts {unknown}; texts: {', '.join(texts)}")
    mp3_names = [n.strip() for n in args.mp3_texts.split(",") if n.strip() in texts]
    runs = {name: max(1, args.long_runs if len(text) > LONG_CHARS else args.runs) for name, text in texts.items()}

    import torch

    spec, config = ensure_model(args.model_dir)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    server = Server(args.model_dir, args.threads or None)  # starts loading while we load the baseline
    try:
        baseline = Baseline(spec, config, args.model_dir)
        vocab = config["vocab"]
        kp_sizes = kpipeline_chunks(baseline.pipe, texts, vocab)
        srv_sizes = server_chunks(texts, config)
        baseline.run("Warming up.")
        baseline.run(texts[min(texts, key=lambda n: len(texts[n]))])
        server.wait_ready()
        with http_client(args.timeout) as client:
            server.run(client, texts[min(texts, key=lambda n: len(texts[n]))], "pcm", args.timeout)

        print(f"model: full-size random v1_0 in {args.model_dir} (voice {VOICE}); torch threads {threads} "
              f"(server: {'TORCH_THREADS=%d' % args.threads if args.threads else 'default, the same'}); "
              f"LD_PRELOAD={os.environ.get('LD_PRELOAD') or '-'}; {os.cpu_count()} CPUs")
        for name, text in texts.items():
            print(f"text {name}: {len(text)} chars, {sum(kp_sizes[name])} phonemes; chunks KPipeline "
                  f"{kp_sizes[name]}, server {srv_sizes[name]}; {runs[name]} run(s)")
        print(f"setup {time.perf_counter() - began:.0f}s; single stream ...", flush=True)
        load = ForeignLoad(server)

        kp, srv = single_stream(baseline, server, texts, runs, args.timeout)
        mp3 = None
        if mp3_names:
            print("mp3 (server only, for information) ...", flush=True)
            mp3 = mp3_runs(server, {n: texts[n] for n in mp3_names}, args.timeout)
        conc = None
        foreign = load.cores()
        if args.concurrency > 0:
            plans = client_plans(mix, args.concurrency)
            print(f"{args.concurrency} concurrent clients, each sending {'+'.join(mix)} ...", flush=True)
            pause()
            kp_c, kp_wall, kp_cpu = concurrent_baseline(baseline, texts, plans)
            pause()
            srv_c, srv_wall, srv_cpu = concurrent_server(server, texts, plans, args.timeout)
            conc = (kp_c, kp_wall, kp_cpu, srv_c, srv_wall, srv_cpu, plans)

        # ---- the report ----
        print()
        print(HEADER)
        for name in texts:
            chunks = f"{median([r.chunks for r in kp[name]]):.0f}/{len(srv_sizes[name])}"
            print(single_line(f"single {name}", kp[name], srv[name], chunks))
        # all texts of one run, back to back: audio-weighted RTF over the medians
        audio = (sum(median([r.audio for r in kp[n]]) for n in texts), sum(median([r.audio for r in srv[n]]) for n in texts))
        wall = (sum(median([r.wall for r in kp[n]]) for n in texts), sum(median([r.wall for r in srv[n]]) for n in texts))
        all_kp = [r for n in texts for r in kp[n]]
        all_srv = [r for n in texts for r in srv[n]]
        chunks = f"{sum(len(kp_sizes[n]) for n in texts)}/{sum(len(srv_sizes[n]) for n in texts)}"
        cpu = (sum(median([r.cpu for r in kp[n]]) for n in texts), sum(median([r.cpu for r in srv[n]]) for n in texts))
        print(line("single all", chunks, audio, wall, (wall[0] / audio[0], wall[1] / audio[1]),
                   (median([r.ttfa for r in all_kp]), median([r.ttfa for r in all_srv])),
                   (percentile([r.ttfa for r in all_kp], 95), percentile([r.ttfa for r in all_srv], 95)), cpu))
        if conc:
            kp_c, kp_wall, kp_cpu, srv_c, srv_wall, srv_cpu, plans = conc
            a = (sum(r.audio for r in kp_c), sum(r.audio for r in srv_c))
            chunks = f"{sum(len(kp_sizes[n]) for p in plans for n in p)}/{sum(len(srv_sizes[n]) for p in plans for n in p)}"
            print(line(f"concurrent x{len(plans)}", chunks, a, (kp_wall, srv_wall), (kp_wall / a[0], srv_wall / a[1]),
                       (median([r.ttfa for r in kp_c]), median([r.ttfa for r in srv_c])),
                       (percentile([r.ttfa for r in kp_c], 95), percentile([r.ttfa for r in srv_c], 95)),
                       (kp_cpu, srv_cpu)))
            print(f"  concurrent throughput (audio s per wall s): KPipeline serial {a[0] / kp_wall:.2f}, "
                  f"server {a[1] / srv_wall:.2f}; baseline = one KPipeline serving the {len(kp_c)} requests back to "
                  f"back in arrival order (FIFO serial server; its TTFA includes queueing)")
        if mp3:
            for name, r in mp3.items():
                audio_s = median([x.audio for x in srv[name]])
                pcm_wall = median([x.wall for x in srv[name]])
                print(f"  mp3 {name}: wall {r.wall:.2f}s (RTF {r.wall / audio_s:.3f}; pcm median {pcm_wall:.2f}s), "
                      f"TTFB {r.ttfa:.2f}s, {r.nbytes / 1024:.0f} KiB")
        print("  RTF = wall / audio seconds; overhead = server RTF / KPipeline RTF - 1 (goal: < 10% single stream); "
              "chunks: median KPipeline results / server chunks")
        total_foreign = load.cores()
        print(f"  other processes kept {total_foreign[0]:.2f} of {os.cpu_count()} cores busy on average over the "
              f"{total_foreign[1]:.0f}s measured ({foreign[0]:.2f} during the single-stream part)"
              + ("; TIMINGS ARE NOISY: rerun on a quiet machine" if total_foreign[0] > 0.2 else ""))
        print(f"total {time.perf_counter() - began:.0f}s")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"error: {exc}\n--- server log tail ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
