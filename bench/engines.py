#!/usr/bin/env python
"""Speed and memory of each ENGINE, side by side in one run, and where each spends its time.

    python bench/engines.py --model-dir DIR [--engines torch-fp32,torch-bf16] [--runs 3] [--clients 4]
    python bench/engines.py --model-dir DIR --profile          # per-submodule time, in this process

One server per engine (``ENGINE=...``, otherwise ``bench/overhead.py``'s like-for-like settings: no
chunk cache, no join pauses or trimming), all started before the first measurement and measured in
turn, engine after engine within each run, so that other load on the machine hits all alike. Same
threads (``--threads``, default 2) and allocator (tcmalloc, as overhead.py arranges) for all. Use real
weights (``../shared/realweights``) where you have them: a random model's durations differ.

Printed per engine (medians over ``--runs``):
  * paragraph alone (64 words, 6 sentences): time to first audio and real-time factor (wall / audio seconds);
  * ~400-word text alone (one streamed request): real-time factor;
  * a reply that opens with one word ("Sure! ..."): time to first audio;
  * stalls: for the paragraph, the long text and the reply, the seconds a player that starts at the
    first byte and plays in real time runs out of audio (0: the stream kept ahead of playback);
  * ``--clients`` concurrent clients each sending the paragraph twice: audio seconds per wall second;
  * resident memory of the server after warm-up and its peak (VmRSS / VmHWM) at the end;
  * ratios against the first engine (the baseline, ``torch-fp32`` by default).

``--profile``: per engine, one chunk (``--profile-tokens``, default 200 phonemes) through ``forward_batch``
in this process, median of 3, with wall time per part of the network: the leaf modules (convolutions,
linears, LSTMs, ALBERT's layers) summed by group, the vocoder's harmonic source with its STFT, and the
iSTFT; "rest" is what runs between modules (instance norms and Snake activations written as tensor
code, alignment, glue).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import overhead  # noqa: E402  (bench/overhead.py: the server process, tcmalloc, the streamed request)
from quality import PASSAGE  # noqa: E402

PARAGRAPH = overhead.TEXTS["medium"] + " " + overhead.TEXTS["short"]
LONG = " ".join(PASSAGE.split()[:400])
REPLY = "Sure! " + LONG.split(". ", 1)[1]   # a reply that opens with one word, as chat answers do


def memory_kb(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def concurrent(server, clients: int, repeats: int, timeout: float) -> tuple[float, float]:
    """(audio seconds per wall second, median TTFA) of ``clients`` threads each sending the paragraph."""
    results, errors = [], []

    def client_main():
        with overhead.http_client(timeout) as http:
            for _ in range(repeats):
                try:
                    results.append(server.run(http, PARAGRAPH, timeout=timeout, measure_cpu=False))
                except Exception as exc:   # reported, not hidden
                    errors.append(exc)

    threads = [threading.Thread(target=client_main) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} concurrent requests failed: {errors[0]}")
    return sum(r.audio for r in results) / wall, statistics.median(r.ttfa for r in results)


def speed(args, engines: list[str]) -> None:
    extra = dict(item.split("=", 1) for item in args.set)
    servers = {e: overhead.Server(args.model_dir, args.threads, {**overhead.LIKE_FOR_LIKE, **extra, "ENGINE": e})
               for e in engines}
    try:
        for e, server in servers.items():
            server.wait_ready()
        rows = {e: {"ttfa": [], "para": [], "long": [], "conc": [], "conc_ttfa": [], "stall_para": [],
                    "stall_long": [], "reply_ttfa": [], "stall_reply": []} for e in engines}
        warm = {e: memory_kb(s.proc.pid)["VmRSS"] for e, s in servers.items()}
        with overhead.http_client(args.timeout) as http:
            for e, server in servers.items():   # one untimed paragraph each: first-request costs out
                server.run(http, PARAGRAPH, timeout=args.timeout, measure_cpu=False)
            for run in range(args.runs):
                for e, server in servers.items():
                    r = server.run(http, PARAGRAPH, timeout=args.timeout, measure_cpu=False)
                    rows[e]["ttfa"].append(r.ttfa)
                    rows[e]["para"].append(r.wall / r.audio)
                    rows[e]["stall_para"].append(r.stall)
                    r = server.run(http, LONG, timeout=args.timeout, measure_cpu=False)
                    rows[e]["long"].append(r.wall / r.audio)
                    rows[e]["stall_long"].append(r.stall)
                    r = server.run(http, REPLY, timeout=args.timeout, measure_cpu=False)
                    rows[e]["reply_ttfa"].append(r.ttfa)
                    rows[e]["stall_reply"].append(r.stall)
                    print(f"run {run + 1} {e}: paragraph ttfa {rows[e]['ttfa'][-1]:.2f}s rtf {rows[e]['para'][-1]:.3f}"
                          f", long rtf {rows[e]['long'][-1]:.3f}, reply ttfa {r.ttfa:.2f}s, stalls (para/long/reply)"
                          f" {rows[e]['stall_para'][-1]:.2f}/{rows[e]['stall_long'][-1]:.2f}/{r.stall:.2f}s", flush=True)
        if args.clients:
            for run in range(max(1, args.runs // 2)):
                for e, server in servers.items():
                    rate, ttfa = concurrent(server, args.clients, 2, args.timeout)
                    rows[e]["conc"].append(rate)
                    rows[e]["conc_ttfa"].append(ttfa)
                    print(f"run {run + 1} {e}: {args.clients} clients {rate:.2f} audio-s/s", flush=True)
        peak = {e: memory_kb(s.proc.pid) for e, s in servers.items()}
    finally:
        for server in servers.values():
            server.stop()

    base = engines[0]
    med = {e: {k: statistics.median(v) if v else float("nan") for k, v in r.items()} for e, r in rows.items()}
    print(f"\nwords: paragraph {len(PARAGRAPH.split())}, long {len(LONG.split())}; threads {args.threads}; "
          f"runs {args.runs}; ratios against {base}")
    print(f"{'engine':<12} {'para TTFA s':>11} {'para RTF':>9} {'long RTF':>9} {f'{args.clients} clients a-s/s':>18} "
          f"{'RSS warm MB':>11} {'RSS end/peak MB':>16}")
    for e in engines:
        m = med[e]
        print(f"{e:<12} {m['ttfa']:11.2f} {m['para']:9.3f} {m['long']:9.3f} {m['conc']:18.2f} "
              f"{warm[e] / 1024:11.0f} {peak[e]['VmRSS'] / 1024:7.0f}/{peak[e]['VmHWM'] / 1024:.0f}")
    print(f"\n{'engine':<12} {'reply TTFA s':>12} {'stall para s':>12} {'stall long s':>12} {'stall reply s':>13}"
          "   (stall: seconds a player starting at the first byte runs dry)")
    for e in engines:
        m = med[e]
        print(f"{e:<12} {m['reply_ttfa']:12.2f} {m['stall_para']:12.2f} {m['stall_long']:12.2f} {m['stall_reply']:13.2f}")
    for e in engines[1:]:
        m, b = med[e], med[base]
        print(f"{e} / {base}: para RTF x{m['para'] / b['para']:.2f}, long RTF x{m['long'] / b['long']:.2f}, "
              f"TTFA x{m['ttfa'] / b['ttfa']:.2f}, {args.clients} clients x{m['conc'] / b['conc']:.2f} throughput")


# Groups of the network, by module path prefix: each leaf module's time goes to its group.
GROUPS = {
    "text side (ALBERT, duration, text encoder)": ("bert", "bert_encoder", "predictor.text_encoder",
                                                   "predictor.lstm", "predictor.duration_proj", "text_encoder"),
    "prosody (shared LSTM, F0/N convs)": ("predictor.shared", "predictor.F0", "predictor.N"),
    "decoder encode/decode convs": ("decoder.encode", "decoder.decode", "decoder.F0_conv", "decoder.N_conv",
                                    "decoder.asr_res"),
    "generator convs (ups, resblocks, noise)": ("decoder.generator.ups", "decoder.generator.resblocks",
                                                "decoder.generator.noise_convs", "decoder.generator.noise_res",
                                                "decoder.generator.conv_post"),
}


def profile(args, engines: list[str]) -> None:
    import torch

    from api.src.inference.forward import BatchItem, forward_batch, vocoder
    from v1_model import V1Model

    torch.set_num_threads(args.threads)
    v1 = V1Model(args.model_dir)
    ids = v1.ids(PARAGRAPH + " " + LONG)[:args.profile_tokens]
    pack = v1.pack(overhead.VOICE)
    item = BatchItem(ids, pack[len(ids)], 1.0, 7)
    spent: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            began = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - began
        return wrapper

    source_spectra = vocoder.source_spectra   # as the generator looks it up
    vocoder.source_spectra = timed("harmonic source + STFT", source_spectra)
    try:
        for engine in engines:
            model = v1.build(engine)
            started: dict[str, float] = {}
            for path, module in model.kmodel.named_modules():
                if next(module.children(), None) is not None:
                    continue   # leaves only: their times do not overlap
                group = next((g for g, prefixes in GROUPS.items()
                              if any(path == p or path.startswith(p + ".") for p in prefixes)), None)
                if group is None:
                    continue
                module.register_forward_pre_hook(lambda m, i, n=path: started.__setitem__(n, time.perf_counter()))
                module.register_forward_hook(lambda m, i, o, n=path, g=group: spent.__setitem__(
                    g, spent.get(g, 0.0) + time.perf_counter() - started[n]))
            stft = model.kmodel.decoder.generator.stft
            stft.inverse = timed("iSTFT", stft.inverse)
            forward_batch(model, [item])
            totals, runs = [], []
            for _ in range(3):
                spent.clear()
                began = time.perf_counter()
                audio, _ = forward_batch(model, [item])[0]
                totals.append(time.perf_counter() - began)
                runs.append(dict(spent))
            total = statistics.median(totals)
            names = [*GROUPS, "harmonic source + STFT", "iSTFT"]
            parts = {n: statistics.median(r.get(n, 0.0) for r in runs) for n in names}
            print(f"\n{engine}: {len(ids)} phonemes, {len(audio) / 24000:.2f} s of audio in {total:.3f} s "
                  f"(RTF {total / (len(audio) / 24000):.3f})")
            for name in names:
                print(f"  {name:<44} {parts[name] * 1000:8.1f} ms {100 * parts[name] / total:5.1f}%")
            rest = total - sum(parts.values())
            print(f"  {'rest (norms, activations, alignment, glue)':<44} {rest * 1000:8.1f} ms {100 * rest / total:5.1f}%")
    finally:
        vocoder.source_spectra = source_spectra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True, help="MODEL_DIR with v1_0 (real weights if you can)")
    parser.add_argument("--engines", default="torch-fp32,torch-bf16", help="comma-separated; the first is the baseline")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4, help="concurrent paragraph clients (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="another server setting for every engine (e.g. FIRST_CHUNK_MAX_TOKENS=50)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--profile", action="store_true", help="per-submodule time in this process instead")
    parser.add_argument("--profile-tokens", type=int, default=200, help="phonemes in the profiled chunk")
    args = parser.parse_args()
    overhead._reexec_under_tcmalloc()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    (profile if args.profile else speed)(args, engines)


if __name__ == "__main__":
    main()
