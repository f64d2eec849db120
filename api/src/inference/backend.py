"""One loaded model version behind the interface the scheduler, routers and text pipeline use.

Nothing outside this module needs to know which generation it talks to: phonemes in, token ids and
styles picked by the version's rules, audio out. Every chunk runs through the batched forward
(``forward.forward_batch``) on the model as its engine prepared it.
"""
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from ..builds.base import VersionSpec, shared_g2p
from ..core.phonemes import G2P
from .forward import BatchItem, PreparedModel, forward_batch
from .voices import VoiceLibrary


@dataclass
class ChunkOutput:
    audio: np.ndarray      # float32, SAMPLES_PER_FRAME * pred_dur.sum() samples
    pred_dur: np.ndarray   # frames per input id, BOS and EOS included


class KokoroBackend:
    """A built version: its network on a device (``model``: as ``engines.apply_engine`` prepared it), its
    vocab, voices and per-language G2P."""

    def __init__(self, spec: VersionSpec, model: PreparedModel, config: Mapping, voices: VoiceLibrary, device: str):
        self.spec = spec
        self.model = model
        self.vocab: dict[str, int] = dict(config["vocab"])
        self.voices = voices
        self.device = device
        self.max_tokens = model.context_length - 2

    @property
    def version(self) -> str:
        return self.spec.version

    def g2p(self, lang: str) -> G2P:
        """The G2P for a language code: one per version and language in the process (`shared_g2p`)."""
        return shared_g2p(self.spec, lang)

    def token_ids(self, phonemes: str) -> list[int]:
        """Phonemes -> ids; symbols outside the vocab are dropped, as the model itself does."""
        ids = [self.vocab[p] for p in phonemes if p in self.vocab]
        if len(ids) > self.max_tokens:
            raise ValueError(f"{len(ids)} phoneme tokens exceed the model's {self.max_tokens}")
        return ids

    def style(self, pack: torch.Tensor, n_tokens: int) -> torch.Tensor:
        """The style row the version picks for an input of ``n_tokens`` ids (BOS/EOS excluded)."""
        row = min(max(self.spec.voice_row(n_tokens), 0), pack.shape[0] - 1)
        return pack[row]

    def infer_seeded(self, input_ids: list[int], ref_s: torch.Tensor, speed: float, seed: int) -> ChunkOutput:
        """One chunk (a batch of one of ``infer_batch``) whose vocoder noise comes from a private generator
        seeded with ``seed``.

        Under torch-fp32, the same bytes as ``torch.manual_seed(seed)`` then the package's own one-item
        ``KModel.forward_with_tokens``, but torch's global RNG is neither read nor advanced: no other
        thread that draws from it or reseeds it (building a model initializes its weights from it) can
        change this chunk's audio.
        """
        return self.infer_batch([BatchItem(input_ids, ref_s, speed, seed)])[0]

    def infer_batch(self, items: Sequence[BatchItem], half: bool = False) -> list[ChunkOutput]:
        """Several chunks in one batched forward (``forward.forward_batch``), outputs in item order.

        Each item is seeded by its own ``seed`` (a per-item generator), so its audio does not depend
        on its companions: identical durations and audio within 1e-4 of the same item run alone.
        ``half`` (CUDA only) runs ALBERT under float16 autocast.
        """
        results = forward_batch(self.model, items, half=half and self.device == "cuda")
        return [ChunkOutput(audio, pred_dur) for audio, pred_dur in results]

    def warm_up_batches(self, sizes: Sequence[int], max_tokens: int, half: bool = False,
                        lengths: Sequence[int] = (16, 100, 250)) -> int:
        """Run a dummy batch of every size x chunk length (within ``max_tokens`` padded phonemes) once.

        On CUDA the first forward of a shape pays for kernel selection and for growing the caching
        allocator; doing it at start keeps that out of the first requests. Returns the shapes run.
        """
        ids = [i for i in sorted(set(self.vocab.values())) if i != 0] or [1]
        ref_s = torch.zeros(1, 256)
        shapes = 0
        for n in lengths:
            n = min(n, self.max_tokens)
            for size in sizes:
                if size > 1 and size * (n + 2) > max_tokens:
                    continue
                items = [BatchItem([ids[(k + j) % len(ids)] for j in range(n)], ref_s, 1.0, k) for k in range(size)]
                self.infer_batch(items, half=half)
                shapes += 1
        if self.device == "cuda":
            torch.cuda.synchronize()
        return shapes
