"""A model version without its network, for tests of everything around synthesis.

``build_model_free_backend`` is a ``ModelManager`` builder (``create_app(settings, backend_builder=...)``,
``AppServer(..., model_free=True)``): the version's real config, vocab, voice packs and G2P from MODEL_DIR,
the real scheduler, engine, joiner and encoders, but no weights are loaded and no forward runs. Each
chunk's audio is made from its ids in microseconds:

- every id lasts ``FRAMES_PER_ID`` frames at speed 1 (``round(FRAMES_PER_ID / speed)``, at least one),
  BOS and EOS included, so durations, captions and audio length follow the text as a trained model's do;
- an id's frames are a tone whose pitch the id and the style row pick (another voice or mix sounds
  different), BOS and EOS are silent (edges trim like speech);
- a little noise drawn from the chunk's seed: the same seed gives the same bytes, another seed others.

What it cannot show: anything about the network itself (its numerics, batching equivalence, the engines,
the pinned hashes of real forwards). Tests of those use the tiny random model.
"""
from typing import Sequence

import numpy as np

from api.src.builds.base import SAMPLE_RATE, SAMPLES_PER_FRAME
from api.src.builds.base import VersionSpec
from api.src.core.config import Settings
from api.src.inference.backend import ChunkOutput, KokoroBackend
from api.src.inference.forward import BatchItem
from api.src.inference.model_manager import load_voices

FRAMES_PER_ID = 3


class NoNetwork:
    """What a backend reads of its model besides the forward: how many ids it takes."""

    engine = "none"

    def __init__(self, context_length: int):
        self.context_length = context_length


class ModelFreeBackend(KokoroBackend):
    """A ``KokoroBackend`` whose chunks are tones (see the module docstring)."""

    def infer_batch(self, items: Sequence[BatchItem], half: bool = False) -> list[ChunkOutput]:
        return [self._speak(item) for item in items]

    @staticmethod
    def _speak(item: BatchItem) -> ChunkOutput:
        frames = max(1, round(FRAMES_PER_ID / item.speed))
        ids = [0, *item.input_ids, 0]
        pred_dur = np.full(len(ids), frames, dtype=np.int64)
        n = frames * SAMPLES_PER_FRAME
        t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
        voice_hz = 40 * float(item.ref_s.float().abs().mean())
        pieces = [np.zeros(n, np.float32) if i == 0 else 0.3 * np.sin(2 * np.pi * (120 + 7 * i + voice_hz) * t)
                  for i in ids]
        audio = np.concatenate(pieces).astype(np.float32)
        noise = np.random.default_rng(item.seed & 0xFFFF_FFFF).normal(0, 0.002, audio.size).astype(np.float32)
        return ChunkOutput(audio + noise, pred_dur)


def build_model_free_backend(spec: VersionSpec, settings: Settings, device: str, engine: str) -> KokoroBackend:
    """``ModelManager``'s builder for a version without its network (config, vocab and voices are real)."""
    config = spec.load_config(spec.config_path(settings.model_dir))
    context = int(config.get("plbert", {}).get("max_position_embeddings", 512))
    return ModelFreeBackend(spec, NoNetwork(context), config, load_voices(spec, settings), device)  # type: ignore[arg-type]


def app():
    """``uvicorn --factory tests.support.model_free:app``: the environment's app, model-free (for the tests
    that need a server process of their own)."""
    from api.src.main import create_app

    return create_app(backend_builder=build_model_free_backend)
