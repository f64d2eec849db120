#!/usr/bin/env python
"""Real-time factor of one forward pass against its length in phonemes: where chunking costs throughput.

    python bench/chunk_length.py --model-dir DIR [--engine torch-bf16] [--lengths 50,100,...] [--reps 3] [--threads 2]

The server cuts text into chunks (a short first one for time to first audio, then ``TARGET_MIN_TOKENS``
to ``TARGET_MAX_TOKENS`` phonemes); KPipeline fills chunks up to 510. A forward pass has a fixed cost
(the text encoders, the style, the vocoder's start-up) and per-frame costs, so shorter chunks speak
each second of audio more slowly. This measures that curve on ``--model-dir``'s v1.0 weights (real
weights when you have them: a random model's durations differ): the phonemes of a long English text
cut to each length, lengths interleaved within each repetition, the median per length. The RTF is
wall seconds / audio seconds of the pass (lower is faster); the last column is relative to the
longest length.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXT = ("The keeper climbed the stairs of the old lighthouse and lit the lamp, as he had done every evening "
        "for thirty years, while the storm gathered over the grey and restless sea. Far below, the fishing "
        "boats turned for home, their lanterns swinging in the dark, and the harbor master counted them one by "
        "one as they passed the breakwater. When the last of them was safe, he wrote the time in his book, "
        "closed the shutters of his little office and walked home along the quay, listening to the waves.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--lengths", default="50,100,150,200,250,300,400,500")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--engine", default="torch-fp32", help="an ENGINE value other than auto")
    args = parser.parse_args()

    import torch

    from api.src.inference.forward import BatchItem, forward_batch
    from v1_model import V1Model

    torch.set_num_threads(args.threads)
    v1 = V1Model(args.model_dir)
    model = v1.build(args.engine)
    ids = v1.ids(TEXT)
    pack = v1.pack(args.voice)
    lengths = [int(n) for n in args.lengths.split(",")]
    if max(lengths) > len(ids):
        sys.exit(f"the text has {len(ids)} phonemes; ask for lengths up to that")

    def run(n: int) -> tuple[float, float]:
        began = time.perf_counter()
        audio, _ = forward_batch(model, [BatchItem(ids[:n], pack[n - 1], 1.0, 7)])[0]   # the server's path
        return time.perf_counter() - began, audio.size / 24_000

    run(lengths[0])   # warm-up
    results = {n: [] for n in lengths}
    for rep in range(args.reps):
        for n in (lengths if rep % 2 == 0 else lengths[::-1]):
            results[n].append(run(n))
    longest = statistics.median(w / a for w, a in results[lengths[-1]])
    print(f"{'phonemes':>8} {'audio s':>8} {'wall s':>7} {'RTF':>6} {'vs ' + str(lengths[-1]):>8}")
    for n in lengths:
        rtf = statistics.median(w / a for w, a in results[n])
        wall = statistics.median(w for w, _ in results[n])
        audio = statistics.median(a for _, a in results[n])
        print(f"{n:8d} {audio:8.2f} {wall:7.2f} {rtf:6.3f} {rtf / longest:8.2f}x")


if __name__ == "__main__":
    main()
