#!/usr/bin/env python
"""What a second OpenMP team costs the inference thread (the reason for ``inference/torch_threads.py``).

    python bench/omp_teams.py --model-dir DIR [--engine torch-fp32] [--tokens 95] [--reps 4] [--threads 2]

Each case runs in a fresh child process: the model is built, then one chunk (``--tokens`` phonemes of an
English text) runs ``--reps`` times through ``forward.forward_batch`` after one untimed pass; printed is
the real-time factor (wall / audio seconds) of the timed passes.

  * ``one thread``: built and run on a worker thread; no other thread ever ran torch (the server now);
  * ``built in a passing thread``: built on a thread that exited, run on another (``run_in_passing_thread``);
  * ``built on a live thread``: built on the main thread, which lives on with its OpenMP team, run on a
    worker thread (the server before: the model was built on a pool thread).

With more libgomp-managed threads than CPUs, idle OpenMP workers sleep at once instead of spinning,
and every parallel region pays for waking them.
"""
import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TEXT = ("Thanks for calling Riverside Dental; we are open weekdays from half past eight in the morning to five "
        "in the evening. To reschedule, please give us a day's notice, or a small fee may apply.")
CASES = {"one thread": "worker", "built in a passing thread": "passing", "built on a live thread": "main"}


def child(args) -> None:
    import torch

    from api.src.inference import forward
    from v1_model import V1Model

    torch.set_num_threads(args.threads)
    v1 = V1Model(args.model_dir)
    ids = v1.ids(TEXT)[:args.tokens]
    item = forward.BatchItem(ids, v1.pack()[len(ids)], 1.0, 7)

    def build():
        return v1.build(args.engine)

    def run(model):
        forward.forward_batch(model, [item])
        began, audio = time.perf_counter(), 0.0
        for _ in range(args.reps):
            audio += len(forward.forward_batch(model, [item])[0][0]) / 24000
        print(f"{(time.perf_counter() - began) / audio:.4f}")

    def on_thread(fn, *a):
        box = {}
        thread = threading.Thread(target=lambda: box.setdefault("r", fn(*a)))
        thread.start()
        thread.join()
        return box.get("r")

    if args.child == "worker":
        on_thread(lambda: run(build()))
    elif args.child == "passing":
        on_thread(run, on_thread(build))
    else:
        on_thread(run, build())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--engine", default="torch-fp32", help="an ENGINE value other than auto")
    parser.add_argument("--tokens", type=int, default=95)
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=sorted(set(CASES.values())), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    base = None
    for label, case in CASES.items():
        out = subprocess.run([sys.executable, __file__, "--child", case, *sys.argv[1:]], check=True,
                             capture_output=True, text=True).stdout.split()
        rtf = float(out[-1])
        base = base or rtf
        print(f"{label:<28} RTF {rtf:.3f}  x{rtf / base:.2f}", flush=True)


if __name__ == "__main__":
    main()
