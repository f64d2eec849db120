#!/usr/bin/env python
"""Engines tried and not kept (ONNX Runtime fp32/int8, torch.compile) against the kept ones, same chunks.

    pip install onnx onnxruntime        # not dependencies of the server
    python bench/engine_candidates.py --model-dir DIR [--tokens 200,95,140] [--reps 3] [--threads 2]
                                      [--int8-onnx FILE] [--no-compile]

Exports ``MODEL_DIR/v1_0``'s model with ``torch.onnx.export`` (the TorchScript exporter, opset 17, dynamic
length; ``kokoro.model.KModelForONNX`` with the real-valued STFT: waveform and durations out) into ``bench/.cache/onnx/``, makes an
int8 copy with ``onnxruntime.quantization.quantize_dynamic`` (weights of MatMul/Gemm and convolutions),
and times one forward pass per chunk length on each path, all in this process with the same thread
count: ``torch-fp32`` and ``torch-bf16`` (the server's ``forward.forward_batch`` after ``apply_engine``),
``ort-fp32``, ``ort-int8`` and, with ``--int8-onnx``, another int8 export (e.g. the one kokoro-onnx
publishes). Printed per path: median wall seconds and real-time factor (wall / audio seconds), with the
ratio to ``torch-fp32``; and the durations' agreement with torch (ids of the same English text).

``torch.compile`` (inductor, ``dynamic=True``) is applied to the generator's resblocks (for bf16, the
channels-last ``engines.channels_last.run_resblock``; for fp32, the plain ``forward.adain.adain_resblock1``): the convolution-heavy part with the elementwise
Snake and AdaIN between convolutions that inductor can fuse. The first pass (compilation) is
reported on its own; later lengths must not recompile, which ``--tokens`` with several lengths shows.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CACHE = REPO / "bench" / ".cache" / "onnx"
TEXT = ("The keeper climbed the stairs of the old lighthouse and lit the lamp, as he had done every evening "
        "for thirty years, while the storm gathered over the grey and restless sea. Far below, the fishing "
        "boats turned for home, their lanterns swinging in the dark, and the harbor master counted them.")


def export(config_path: Path, weights_path: Path, path: Path) -> None:
    """The checkpoint as kokoro builds it for export: its real-valued STFT (complex numbers do not export)."""
    import torch
    from kokoro.model import KModel, KModelForONNX

    model = KModel(config=str(config_path), model=str(weights_path), disable_complex=True).eval()

    ids = torch.tensor([[0, *range(1, 49), 0]])
    torch.onnx.export(KModelForONNX(model).eval(), (ids, torch.zeros(1, 256), torch.tensor([1.0])), str(path),
                      input_names=["input_ids", "ref_s", "speed"], output_names=["waveform", "duration"],
                      dynamic_axes={"input_ids": {1: "tokens"}, "waveform": {0: "samples"},
                                    "duration": {0: "tokens"}},
                      opset_version=17, dynamo=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--tokens", default="200,95,140", help="chunk lengths in phonemes")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--int8-onnx", type=Path, help="another int8 ONNX file with inputs tokens, style, speed")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile paths")
    args = parser.parse_args()

    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from api.src.inference.engines import channels_last
    from api.src.inference.forward import BatchItem, forward_batch, vocoder
    from v1_model import V1Model

    torch.set_num_threads(args.threads)
    v1 = V1Model(args.model_dir)
    all_ids = v1.ids(TEXT)
    pack = v1.pack()

    CACHE.mkdir(parents=True, exist_ok=True)
    fp32_path, int8_path = CACHE / "kokoro-v1_0.fp32.onnx", CACHE / "kokoro-v1_0.int8.onnx"
    began = time.perf_counter()
    export(v1.config_path, v1.weights_path, fp32_path)
    quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
    print(f"export + quantize: {time.perf_counter() - began:.1f}s; fp32 {fp32_path.stat().st_size >> 20} MB, "
          f"int8 {int8_path.stat().st_size >> 20} MB")

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    sessions = {"ort-fp32": ort.InferenceSession(str(fp32_path), options, providers=["CPUExecutionProvider"]),
                "ort-int8": ort.InferenceSession(str(int8_path), options, providers=["CPUExecutionProvider"])}
    if args.int8_onnx:
        sessions["ort-int8 (given)"] = ort.InferenceSession(str(args.int8_onnx), options,
                                                            providers=["CPUExecutionProvider"])
    models = {"torch-fp32": v1.build("torch-fp32"), "torch-bf16": v1.build("torch-bf16")}
    # the resblock functions where their callers look them up: the generator (plain), ChannelsLastResblocks
    plain = {(vocoder, "adain_resblock1"): vocoder.adain_resblock1,
             (channels_last, "run_resblock"): channels_last.run_resblock}
    compiled = {} if args.no_compile else {key: torch.compile(fn, dynamic=True) for key, fn in plain.items()}
    if compiled:
        models["torch-fp32+compile"], models["torch-bf16+compile"] = models["torch-fp32"], models["torch-bf16"]

    def run(path: str, ids: list[int]):
        ref_s = pack[len(ids)].reshape(1, 256)
        if path in models:
            for (module, name), fn in (compiled if path.endswith("+compile") else plain).items():
                setattr(module, name, fn)
            try:
                audio, durations = forward_batch(models[path], [BatchItem(ids, ref_s, 1.0, 7)])[0]
            finally:
                for (module, name), fn in plain.items():
                    setattr(module, name, fn)
            return audio, durations
        session = sessions[path]
        names = [i.name for i in session.get_inputs()]
        feeds = dict(zip(names, (np.array([[0, *ids, 0]], dtype=np.int64), ref_s.numpy().astype(np.float32),
                                 np.array([1.0], dtype=np.float32))))
        out = session.run(None, feeds)
        return out[0].reshape(-1), (out[1].reshape(-1) if len(out) > 1 else None)

    for n in [int(x) for x in args.tokens.split(",")]:
        ids = all_ids[:n]
        reference = run("torch-fp32", ids)[1]
        print(f"\n{len(ids)} phonemes")
        base = None
        for path in [*models, *sessions]:
            began = time.perf_counter()
            run(path, ids)   # first pass: allocations, primitive caches, compilation
            first = time.perf_counter() - began
            times, audio, durations = [], None, None
            for _ in range(args.reps):
                began = time.perf_counter()
                audio, durations = run(path, ids)
                times.append(time.perf_counter() - began)
            wall = statistics.median(times)
            rtf = wall / (len(audio) / 24000)
            base = base or rtf
            same = "-" if durations is None else f"{int(np.sum(np.asarray(durations) == reference))}/{len(reference)}"
            print(f"  {path:<18} {wall:6.3f}s  RTF {rtf:.3f}  x{rtf / base:.2f}  first pass {first:6.2f}s  "
                  f"durations equal to torch-fp32: {same}", flush=True)


if __name__ == "__main__":
    main()
