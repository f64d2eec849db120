"""Kokoro v0.19: `hexgrad/kLegacy` folder `v0.19`, espeak-ng G2P, its own 178-symbol vocab, and
511-row voice packs indexed by the number of tokens.

The network is the same class as v1.0's (KModel); what differs is the checkpoint's `net` wrapper, the
config's shape and the text front end, all of which live here.
"""
from pathlib import Path
from typing import Any

from ..base import RemoteFile, VersionSpec, read_json
from .g2p import make_g2p, normalize_lang
from .vocab import VOCAB

# v0.19's config.json does not describe its ALBERT; these are the numbers it was trained with.
PLBERT = {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 2048,
          "max_position_embeddings": 512, "num_hidden_layers": 12, "dropout": 0.1}
TEXT_ENCODER_KERNEL_SIZE = 5


def load_config(path: Path) -> dict[str, Any]:
    """v0.19's config.json in the shape KModel reads (its `decoder` is KModel's `istftnet`).

    A `plbert` or `text_encoder_kernel_size` present in the file wins over the trained numbers, so
    small test models can describe themselves in the same format.
    """
    raw = read_json(path)
    if "decoder" not in raw:
        raise ValueError(f"{path}: no 'decoder' section: not a Kokoro v0.19 config")
    config = {key: value for key, value in raw.items() if key != "decoder"}
    config["istftnet"] = {key: value for key, value in raw["decoder"].items() if key != "type"}
    config.setdefault("plbert", dict(PLBERT))
    config.setdefault("text_encoder_kernel_size", TEXT_ENCODER_KERNEL_SIZE)
    config["vocab"] = dict(VOCAB)
    return config


SPEC = VersionSpec(
    version="v0_19",
    model_id="kokoro-v0_19",
    repo_id="hexgrad/kLegacy",
    repo_folder="v0.19",
    weights_file="kokoro-v0_19.pth",
    voice_rows=511,
    wrapper_key="net",
    voice_row=lambda n_tokens: n_tokens,
    load_config=load_config,
    make_g2p=make_g2p,
    normalize_lang=normalize_lang,
    remote_files=(RemoteFile("config.json"), RemoteFile("kokoro-v0_19.pth")),
)
