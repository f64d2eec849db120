"""What hostile text costs the text path: seconds per 10k characters, by input kind, size and stage.

Builds the worst inputs we know (long digit runs, punctuation storms, pause and voice tags, SSML,
mixed scripts, emoji, one endless word, URLs and e-mails, abbreviations, whitespace runs) at several
sizes and times each stage of the text path in this process:

- ``markup``: inline tags (or SSML) into segments;
- ``normalize``: the English normalizer;
- ``plan``: sentences, G2P and chunk packing for v1.0 (misaki) on a G2P that is free (spelled), so the
  planner's own cost shows;
- ``g2p_v1``, ``g2p_v019``: the real G2P of each version on the normalized text, one sentence at a
  time (skipped past ``--g2p-max`` characters: misaki takes about 16 s on 200k characters of prose).

Every stage should cost the same per 10k characters at every size: the last column is the ratio of the
largest size's cost per 10k to the smallest's (about 1 is linear; anything growing with size is a bug).

``--server`` instead starts a real server (uvicorn, a tiny random v1.0 model, REQUEST_TIMEOUT_S from
``--timeout``) and, per kind and size, sends the hostile request while probing ``/health`` every 20 ms
and sending one short request: the freeze table (``/health`` max, the short request's first audio, how
the hostile request ended). A server that freezes shows it in the first two columns.

    python bench/adversarial_input.py                       # 10k..200k, G2P up to 20k
    python bench/adversarial_input.py --sizes 10000,40000 --kinds digits,tags --g2p-max 0
    python bench/adversarial_input.py --server --sizes 20000,200000 --kinds brackets,underscores --timeout 30
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.src.core.phonemes import PhonemeToken  # noqa: E402
from api.src.services.text_processing.chunker import ChunkLimits  # noqa: E402
from api.src.services.text_processing.mapped_text import MappedText  # noqa: E402
from api.src.services.text_processing.markup import parse_inline  # noqa: E402
from api.src.services.text_processing.normalizer import normalize_text  # noqa: E402
from api.src.services.text_processing.pipeline import SpeechPlanner, Voicing  # noqa: E402
from api.src.services.text_processing.ssml import parse_ssml  # noqa: E402
from api.src.structures.normalization import NormalizationOptions  # noqa: E402

KINDS = {
    "digits": lambda n: "1234567890" * (n // 10),
    "numbers": lambda n: ("12,345.67 $89.10 3:45pm 1999-2005 42nd 17% " * n)[:n],
    "punctuation": lambda n: ("!?.,;:…—-()[]\"'" * n)[:n],
    "symbols": lambda n: ("&*#@^~|<>=+_%$€£¥©®™§" * n)[:n],
    "tags": lambda n: ("Hi [pause:0.01s] there [voice:af_bella] you [rate:1.1] " * n)[:n],
    "ssml": lambda n: "<speak>" + "<s>Hi <break time='1ms'/><prosody rate='fast'>go</prosody></s>" * (n // 62)
    + "</speak>",
    "mixed_scripts": lambda n: ("Hello мир 世界 مرحبا שלום γειά नमस्ते こんにちは " * n)[:n],
    "emoji": lambda n: ("😀🎉👍🏽‍🔥 " * n)[:n],
    "long_word": lambda n: "a" * n,
    "letter_digit": lambda n: ("a1" * n)[:n],          # one run of n subtokens: cubic in misaki before the cut
    "camel_case": lambda n: ("Ab" * n)[:n],
    "hyphen_run": lambda n: ("a-" * n)[:n],
    "urls_emails": lambda n: ("see https://example.com/a/b?c=d&e=f or mail jane.doe+tag@example.co.uk now. " * n)[:n],
    "abbreviations": lambda n: ("Dr. Mr. Mrs. e.g. i.e. vs. etc. No. St. " * n)[:n],
    "whitespace": lambda n: ("word" + " " * 50 + "\n" * 20) * (n // 74),
    "brackets": lambda n: "[" * n,                    # misaki's link pattern: quadratic in a run of "["
    "image_brackets": lambda n: "![" * (n // 2),
    "underscores": lambda n: "_" * n,                 # spaCy's tokenizer: quadratic in a run of "_"
    "prose": lambda n: ("The keeper climbed the stairs of the old lighthouse and lit the lamp. " * n)[:n],
}


def spelled(text: str) -> list[PhonemeToken]:
    """A free G2P: each word 'phonemizes' to its letters (the planner's own cost, not misaki's)."""
    return [PhonemeToken(w, "".join(c for c in w.lower() if c.isalpha())[:50] or "a", " ") for w in text.split()]


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def stages(kind: str, text: str, g2p_max: int, g2ps: dict) -> dict[str, float]:
    ssml = kind == "ssml"
    out = {"markup": timed(lambda: parse_ssml(text, max_pause_s=10) if ssml
                          else parse_inline(text, allow_voice_tags=True, max_pause_s=10))}
    normalized = {}
    out["normalize"] = timed(lambda: normalized.setdefault(
        "text", normalize_text(MappedText.of(text), NormalizationOptions()).text))
    voicing = Voicing("af_test", None, 1.0, spelled, True)
    segments = parse_ssml(text, max_pause_s=10) if ssml else parse_inline(text, allow_voice_tags=True,
                                                                          max_pause_s=10)
    planner = SpeechPlanner(ChunkLimits(100, 175, 250, 450), lambda t: normalize_text(t, NormalizationOptions()))
    out["plan"] = timed(lambda: list(planner.plan(segments, lambda s: voicing)))
    if len(text) <= g2p_max:
        for name, g2p in g2ps.items():
            out[name] = timed(lambda: [g2p(line) for line in normalized["text"].split(". ")])
    return out


def freeze_row(url: str, text: str, timeout_s: float) -> dict:
    """One hostile request with /health probed beside it and one short request sent 0.3 s in."""
    import threading

    import httpx

    end: dict = {}

    def hostile():
        began = time.monotonic()
        r = httpx.post(url + "/v1/audio/speech", timeout=timeout_s * 10 + 600,
                       json={"input": text, "voice": "af_heart", "response_format": "pcm", "stream": False})
        end.update(status=r.status_code, seconds=time.monotonic() - began)

    health: list[float] = []
    short: dict = {}
    with httpx.Client(base_url=url, timeout=timeout_s * 10 + 600) as http:
        http.get("/health")
        thread = threading.Thread(target=hostile, daemon=True)
        thread.start()

        def short_request():
            time.sleep(0.3)
            began = time.monotonic()
            with httpx.stream("POST", url + "/v1/audio/speech", timeout=timeout_s * 10 + 600,
                              json={"input": "Hello there.", "voice": "af_heart", "response_format": "pcm"}) as r:
                for _ in r.iter_bytes():
                    short.setdefault("first", time.monotonic() - began)
                short["status"] = r.status_code

        shorter = threading.Thread(target=short_request, daemon=True)
        shorter.start()
        while thread.is_alive() or shorter.is_alive():
            began = time.perf_counter()
            http.get("/health")
            health.append(time.perf_counter() - began)
            time.sleep(0.02)
    return {"health_max": max(health), "short": short.get("first"), "short_status": short.get("status"), **end}


def serve_and_probe(args) -> None:
    import os
    import subprocess
    import tempfile

    import httpx

    from api.src.tools.random_model import write_random_model
    from tests.support.models import TEST_VOICES
    from tests.support.server import free_port

    root = Path(tempfile.mkdtemp(prefix="bench-models-"))
    write_random_model(root, version="v1_0", size="tiny", voices=TEST_VOICES, seed=1)
    port = free_port()
    env = {**os.environ, "MODEL_DIR": str(root), "REQUEST_TIMEOUT_S": str(args.timeout), "CHUNK_CACHE_MB": "0",
           "TORCH_THREADS": "2", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.src.main:app", "--port", str(port), "--no-access-log"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        print(f"{'kind':<15} {'size':>7} {'/health max':>12} {'short 1st audio':>16} {'hostile':>16}")
        for kind in args.kinds.split(","):
            for size in [int(s) for s in args.sizes.split(",")]:
                row = freeze_row(url, KINDS[kind](size), args.timeout)
                short = f"{row['short']:.2f} s" if row["short"] is not None else f"none ({row['short_status']})"
                print(f"{kind:<15} {size // 1000:>6}k {row['health_max'] * 1000:>9.0f} ms {short:>16} "
                      f"{row['status']:>5} in {row['seconds']:5.1f} s", flush=True)
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,50000,100000,200000")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--g2p-max", type=int, default=20000, help="run G2P stages only up to this many characters")
    parser.add_argument("--server", action="store_true", help="the freeze table: a real server, /health probed")
    parser.add_argument("--timeout", type=float, default=30.0, help="--server: the server's REQUEST_TIMEOUT_S")
    args = parser.parse_args()
    if args.server:
        serve_and_probe(args)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    g2ps = {}
    if args.g2p_max:
        from api.src.builds.v0_19.g2p import make_g2p as v019
        from api.src.builds.v1_0.g2p import make_g2p as v1
        g2ps = {"g2p_v1": v1("a"), "g2p_v019": v019("a")}
    print(f"{'kind':<15} {'stage':<10} " + " ".join(f"{s // 1000:>6}k" for s in sizes) + "   s/10k growth")
    for kind in args.kinds.split(","):
        stages(kind, KINDS[kind](sizes[0]), 0, {})   # warm-up: compiled patterns, caches, first imports
        results = {size: stages(kind, KINDS[kind](size), args.g2p_max, g2ps) for size in sizes}
        for stage in results[sizes[0]]:
            per10k = [results[s][stage] / s * 10_000 for s in sizes if stage in results[s]]
            cells = " ".join(f"{v:7.3f}" for v in per10k) + "        " * (len(sizes) - len(per10k))
            growth = per10k[-1] / per10k[0] if per10k[0] > 0 else float("nan")
            flag = "  <- super-linear" if growth > 3 and per10k[-1] > 0.05 else ""
            print(f"{kind:<15} {stage:<10} {cells}   {growth:5.1f}x{flag}", flush=True)


if __name__ == "__main__":
    main()
