"""Random-weight Kokoro models in the exact on-disk layout of the real ones, for tests and benchmarks.

`write_random_model(out_dir, version)` writes `out_dir/<version>/{config.json, <weights file>,
voices/<name>.pt}` the way the real repository lays them out, driven by `VERSIONS[version]`:

- v1_0: `kokoro-v1_0.pth` is a dict of the five parts; config.json is KModel's format (`istftnet`,
  `plbert`, `vocab`, ...); voice packs are [510, 1, 256].
- v0_19: `kokoro-v0_19.pth` is `{"net": {the five parts}}`; config.json is v0.19's format (a `decoder`
  section with `"type": "istftnet"`, no `vocab`, no `plbert`: the spec's `load_config` supplies them);
  voice packs are [511, 1, 256].

In both, every key inside the parts is prefixed `module.`, weight-normed convolutions are stored as
`weight_g`/`weight_v`, and the AdaIN InstanceNorm `norm.weight`/`norm.bias` are absent. The network is
built from the config.json just written, read back through `VERSIONS[version].load_config`, so the
file and the weights can never disagree. A server pointed at that folder starts like on the real files,
and `load_kmodel` accepts it.

Sizes: "full" is the real architecture of both versions (about 82M parameters). "tiny" runs the same code about
8x faster (100 phonemes: 0.7 s against 5.8 s on one CPU thread): ALBERT shrunk to 1 layer of width
32, one prosody layer, `max_dur` 6, and a small iSTFTNet (3x2 upsampling, hop 50, n_fft 100). Still
600 samples per duration frame at 24 kHz; the 1024-channel decoder blocks and `hidden_dim` 512 are
fixed by the package's code, so "tiny" keeps about 56M parameters (a 220 MB file).

v0.19 "tiny": v0.19's config.json does not describe ALBERT or the text encoder's kernel (the spec fills
in the trained numbers); the tiny file carries `plbert` and `text_encoder_kernel_size`, which the spec's
`load_config` lets override them. "full" writes exactly the real v0.19 config.json.

Vocabulary: v0.19's is its own 178-symbol table (`builds.v0_19.vocab`), added by its `load_config`.
Without an explicit config the v1.0 vocab is *not* the real one (that one arrives with
the downloaded config.json). It is the v0.19 table with ten symbols v1.0 added (`(`, `)`, U+0303,
ʣ ʥ ʦ ʨ ᵝ ꭧ ᵊ) given the ids of symbols misaki never emits; it covers every symbol of the real
v1.0 vocab, with different ids, all below 178.

Random weights predict the same duration for every phoneme (the LSTM outputs are small, so the 50
sigmoids of `duration_proj` average out to max_dur/2, i.e. 25 frames). `frames_per_phoneme` rescales
that layer so each phoneme gets about that many frames, as a trained model does (~3).

CLI: python -m api.src.tools.random_model --out DIR [--version v1_0|v0_19] [--size tiny|full]
     [--voices a,b] [--seed N] [--frames-per-phoneme 3 | none] [--config real/config.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Optional

import torch

from ..builds import VERSIONS, v0_19 as _v0_19
from ..builds.v0_19.vocab import VOCAB as V0_19_VOCAB
from ..inference.weights import PARTS, PREFIX, adain_norm_keys, new_kmodel

if TYPE_CHECKING:
    from kokoro.model import KModel

# The real v1.0 architecture (hexgrad/Kokoro-82M config.json, without its vocab).
FULL_ARCH: dict = {
    "istftnet": {
        "upsample_kernel_sizes": [20, 12],
        "upsample_rates": [10, 6],
        "gen_istft_hop_size": 5,
        "gen_istft_n_fft": 20,
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "resblock_kernel_sizes": [3, 7, 11],
        "upsample_initial_channel": 512,
    },
    "dim_in": 64,
    "dropout": 0.2,
    "hidden_dim": 512,
    "max_conv_dim": 512,
    "max_dur": 50,
    "multispeaker": True,
    "n_layer": 3,
    "n_mels": 80,
    "n_token": 178,
    "style_dim": 128,
    "text_encoder_kernel_size": 5,
    "plbert": {
        "hidden_size": 768,
        "num_attention_heads": 12,
        "intermediate_size": 2048,
        "max_position_embeddings": 512,
        "num_hidden_layers": 12,
        "dropout": 0.1,
    },
}

# What "tiny" changes. hidden_dim 512, style_dim 128, upsample_initial_channel 512 and n_token >= 178
# are fixed by the package's code. Upsampling: ConvTranspose1d(k, stride u, padding (k-u)//2) gives
# exactly u*L for (u, k) = (3, 3) and (2, 4); with the decoder's own 2x that is 12 spectrogram frames
# per duration frame, times hop 50 = 600 samples (25 ms at 24 kHz), like the real 2 * 10 * 6 * 5.
TINY_OVERRIDES: dict = {
    "n_layer": 1,
    "max_dur": 6,
    "text_encoder_kernel_size": 3,
    "plbert": {
        "hidden_size": 32,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "embedding_size": 32,
        "max_position_embeddings": 512,
        "num_hidden_layers": 1,
        "dropout": 0.1,
    },
    "istftnet": {
        "upsample_kernel_sizes": [3, 4],
        "upsample_rates": [3, 2],
        "gen_istft_hop_size": 50,
        "gen_istft_n_fft": 100,
        "resblock_dilation_sizes": [[1, 3, 5]],  # AdaINResBlock1 reads three dilations
        "resblock_kernel_sizes": [3],             # one resblock per stage is enough
        "upsample_initial_channel": 512,
    },
}

DEFAULT_VOICES = ("af_heart", "af_bella", "am_adam", "bf_emma")           # v1_0
V0_19_DEFAULT_VOICES = ("af", "af_bella", "am_adam", "bf_emma")

# Measured over the 54 real v1.0 packs (54 x 510 x 1 x 256 values): mean -0.0023, std 0.190.
VOICE_MEAN = -0.0023
VOICE_STD = 0.190
# Measured over the 11 real v0.19 packs (11 x 511 x 1 x 256 values): mean -0.0137, std 0.203.
V0_19_VOICE_MEAN = -0.0137
V0_19_VOICE_STD = 0.203
# Real packs change slowly from row to row (mean |step| 6e-4 in v1.0, 1.7e-3 in v0.19); ours drift
# linearly by this much.
VOICE_ROW_DRIFT_STD = 0.05

# duration_proj rescaling: weights shrunk so the per-logit spread (~0.45 at random init) no longer
# shifts the sigmoid mean; the bias alone then sets each of the max_dur sigmoids to fpp / max_dur.
DURATION_WEIGHT_SCALE = 0.1

# Symbols v1.0 added to the v0.19 table -> the v0.19 symbol whose id they take. Those donors are never
# emitted by misaki (nor present in the real v1.0 vocab), which maps ( and ) to the ids of « and » too.
_V1_ADDED = {
    "(": "«", ")": "»", "\u0303": "ʘ", "ʣ": "ǀ", "ʥ": "ǁ",
    "ʦ": "ǂ", "ʨ": "ǃ", "ᵝ": "ʡ", "ꭧ": "ʢ", "ᵊ": "ɺ",
}


def v1_like_vocab() -> dict[str, int]:
    """A symbol -> id table covering misaki's output (see the module docstring: ids differ from v1.0)."""
    vocab = {s: i for s, i in V0_19_VOCAB.items() if s not in _V1_ADDED.values()}
    vocab.update({new: V0_19_VOCAB[donor] for new, donor in _V1_ADDED.items()})
    return vocab


def _merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        out[key] = copy.deepcopy(value)
    return out


def _architecture(size: str) -> dict:
    """KModel's config of `size` without vocab (the network is the same for both versions)."""
    if size == "full":
        return copy.deepcopy(FULL_ARCH)
    if size == "tiny":
        return _merge(FULL_ARCH, TINY_OVERRIDES)
    raise ValueError(f"size must be 'tiny' or 'full', not {size!r}")


def _v1_0_file_config(arch: dict) -> dict:
    """v1.0's config.json is KModel's config itself, vocab included."""
    return {**arch, "vocab": v1_like_vocab()}


def _v0_19_file_config(arch: dict) -> dict:
    """v0.19's config.json: `decoder` (with its `type`) instead of `istftnet`, no vocab, and `plbert` /
    `text_encoder_kernel_size` only where they differ from what v0.19 was trained with."""
    config = {"decoder": {"type": "istftnet", **arch["istftnet"]}}
    trained = {"plbert": _v0_19.PLBERT, "text_encoder_kernel_size": _v0_19.TEXT_ENCODER_KERNEL_SIZE}
    for key, value in arch.items():
        if key == "istftnet" or trained.get(key, object()) == value:
            continue
        config[key] = copy.deepcopy(value)
    return config


@dataclass(frozen=True)
class RandomFormat:
    """What the tool needs of a version beyond its VersionSpec: its config.json format and voice statistics."""

    file_config: Callable[[dict], dict]  # KModel architecture (no vocab) -> config.json content
    voice_mean: float
    voice_std: float
    default_voices: tuple[str, ...]


FORMATS: dict[str, RandomFormat] = {
    "v1_0": RandomFormat(_v1_0_file_config, VOICE_MEAN, VOICE_STD, DEFAULT_VOICES),
    "v0_19": RandomFormat(_v0_19_file_config, V0_19_VOICE_MEAN, V0_19_VOICE_STD, V0_19_DEFAULT_VOICES),
}


def _format(version: str) -> RandomFormat:
    if version not in VERSIONS or version not in FORMATS:
        raise ValueError(f"random models of {version!r} are not supported (supported: {sorted(FORMATS)})")
    return FORMATS[version]


def build_file_config(version: str = "v1_0", size: str = "tiny") -> dict:
    """The config.json content, in `version`'s own format, of a random model of `size` "tiny" or "full"."""
    return _format(version).file_config(_architecture(size))


def read_config(version: str, file_config: dict) -> dict:
    """`file_config` (config.json content in `version`'s format) as KModel reads it: through the spec's
    own `load_config`, the way the server reads the file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(file_config, ensure_ascii=False), encoding="utf-8")
        return dict(VERSIONS[version].load_config(path))


def build_config(version: str = "v1_0", size: str = "tiny") -> dict:
    """The KModel config (vocab included) of a random model of `size` "tiny" or "full": what the
    version's `load_config` makes of `build_file_config(version, size)`."""
    return read_config(version, build_file_config(version, size))


def build_random_kmodel(
    config: Mapping[str, Any], *, seed: int = 0, frames_per_phoneme: Optional[float] = 3.0
) -> "KModel":
    """The in-memory model `write_random_model` saves: same config, seed and rescaling give the same weights.

    The global torch RNG is left as it was.
    """
    max_dur = config["max_dur"]
    if frames_per_phoneme is not None and not 0 < frames_per_phoneme < max_dur:
        raise ValueError(f"frames_per_phoneme must be in (0, max_dur={max_dur}), got {frames_per_phoneme}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = new_kmodel(config)
    if frames_per_phoneme is not None:
        # duration = sum over max_dur outputs of sigmoid(logit); make every sigmoid ~ fpp / max_dur.
        proj = model.predictor.duration_proj.linear_layer
        with torch.no_grad():
            proj.weight.mul_(DURATION_WEIGHT_SCALE)
            p = frames_per_phoneme / max_dur
            proj.bias.fill_(math.log(p / (1 - p)))
    return model.eval()


@torch.no_grad()
def predicted_durations(model: "KModel", input_ids: torch.Tensor, ref_s: torch.Tensor,
                        speed: float = 1.0) -> torch.Tensor:
    """Frames per token for one sequence [1, T] (BOS/EOS included): the duration half of KModel's forward."""
    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    lengths = torch.tensor([input_ids.shape[1]])
    bert = model.bert(input_ids, attention_mask=(~mask).int())
    d_en = model.bert_encoder(bert).transpose(-1, -2)
    d = model.predictor.text_encoder(d_en, ref_s[:, 128:], lengths, mask)
    x, _ = model.predictor.lstm(d)
    duration = torch.sigmoid(model.predictor.duration_proj(x)).sum(dim=-1) / speed
    return torch.round(duration).clamp(min=1).long().squeeze(0)


def weights_layout(model: "KModel", wrapper_key: Optional[str] = None) -> dict:
    """The model's weights as the real files hold them (see the module docstring)."""
    parts = {}
    for name in PARTS:
        module = getattr(model, name)
        skip = adain_norm_keys(module)
        parts[name] = {PREFIX + k: v for k, v in module.state_dict().items() if k not in skip}
    return {wrapper_key: parts} if wrapper_key else parts


def random_voice_pack(name: str, seed: int = 0, rows: Optional[int] = None, *,
                      version: str = "v1_0") -> torch.Tensor:
    """A float32 [rows, 1, 256] pack with the real `version` packs' mean/std; a function of
    (name, seed, version, rows) only. `rows` defaults to the version's `voice_rows` (510 / 511)."""
    fmt = _format(version)
    rows = VERSIONS[version].voice_rows if rows is None else rows
    # CPU generators keep 32 bits of a seed: hash the pair into them
    gen = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{name}".encode()))
    base = torch.randn(256, generator=gen)
    drift = torch.randn(256, generator=gen) * VOICE_ROW_DRIFT_STD
    steps = torch.linspace(0.0, 1.0, rows).unsqueeze(1)
    pack = fmt.voice_mean + fmt.voice_std * base + steps * drift
    return pack.unsqueeze(1).to(torch.float32).contiguous()


def write_random_model(
    out_dir: Path,
    version: str = "v1_0",
    size: str = "tiny",
    voices: Optional[Iterable[str]] = None,
    seed: int = 0,
    frames_per_phoneme: Optional[float] = 3.0,
    config: Optional[dict] = None,
) -> Path:
    """Write a random model of `version` under `out_dir/<version>` and return that folder.

    `config` is config.json's content in the version's own format (e.g. the real config.json), written
    as is instead of `build_file_config(version, size)`. The network is built from the written file
    read back through `VERSIONS[version].load_config`. `voices` defaults to the version's
    (`FORMATS[version].default_voices`); packs are `random_voice_pack(name, seed, version=version)`,
    so a name always gives the same pack.
    """
    fmt = _format(version)
    spec = VERSIONS[version]
    if config is None:
        config = build_file_config(version, size)
    out_dir = Path(out_dir)
    folder = spec.folder(out_dir)
    spec.voices_dir(out_dir).mkdir(parents=True, exist_ok=True)

    with open(spec.config_path(out_dir), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
    model_config = spec.load_config(spec.config_path(out_dir))
    model = build_random_kmodel(model_config, seed=seed, frames_per_phoneme=frames_per_phoneme)
    torch.save(weights_layout(model, spec.wrapper_key), spec.weights_path(out_dir))
    for name in fmt.default_voices if voices is None else voices:
        pack = random_voice_pack(name, seed, version=version)
        torch.save(pack, spec.voices_dir(out_dir) / f"{name}.pt")
    return folder


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Write a random-weight Kokoro model in the real layout.")
    parser.add_argument("--out", type=Path, required=True, help="model dir; files go to OUT/<version>/")
    parser.add_argument("--version", default="v1_0", choices=sorted(set(VERSIONS) & set(FORMATS)))
    parser.add_argument("--size", default="tiny", choices=("tiny", "full"))
    parser.add_argument("--voices", help="comma-separated voice names (default: "
                        + "; ".join(f"{v}: {','.join(f.default_voices)}" for v, f in FORMATS.items()) + ")")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames-per-phoneme", default="3",
                        help="mean predicted frames per phoneme, or 'none' to keep the random layer")
    parser.add_argument("--config", type=Path,
                        help="use this config.json (in the version's format, e.g. the real one) as is")
    args = parser.parse_args(argv)

    fpp = None if args.frames_per_phoneme.lower() == "none" else float(args.frames_per_phoneme)
    config = json.loads(args.config.read_text(encoding="utf-8")) if args.config else None
    voices = None if args.voices is None else [v.strip() for v in args.voices.split(",") if v.strip()]
    folder = write_random_model(args.out, args.version, args.size, voices, args.seed, fpp, config)
    print(f"wrote a random {args.size if config is None else 'custom'} {args.version} model to {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
