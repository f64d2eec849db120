"""Kokoro v1.0: `hexgrad/Kokoro-82M`, misaki G2P, 510-row voice packs indexed by phoneme count - 1."""
from ..base import RemoteFile, VersionSpec, read_json
from .g2p import make_g2p, normalize_lang

SPEC = VersionSpec(
    version="v1_0",
    model_id="kokoro-v1_0",
    repo_id="hexgrad/Kokoro-82M",
    repo_folder="",
    weights_file="kokoro-v1_0.pth",
    voice_rows=510,
    wrapper_key=None,
    voice_row=lambda n_tokens: n_tokens - 1,
    load_config=read_json,
    make_g2p=make_g2p,
    normalize_lang=normalize_lang,
    remote_files=(
        RemoteFile("config.json"),
        RemoteFile(
            "kokoro-v1_0.pth",
            size=327_212_226,
            sha256="496dba118d1a58f5f3db2efc88dbdc216e0483fc89fe6e47ee1f2c53f18ad1e4",
        ),
    ),
)
