"""What the batched forward takes: the chunks (``BatchItem``) and the model as an engine prepared it
(``PreparedModel``, made by ``engines.apply_engine``), with what the forward must know of that engine."""
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Protocol

import torch
from torch import nn

if TYPE_CHECKING:  # importing kokoro is slow-ish
    from kokoro.model import KModel


@dataclass
class BatchItem:
    """One chunk to synthesize."""

    input_ids: list[int]   # token ids without BOS/EOS (forward_batch adds 0 at both ends, like KModel.forward)
    ref_s: torch.Tensor    # [1, 256] style row: [:, :128] to the decoder, [:, 128:] to the prosody predictor
    speed: float
    seed: int              # seeds this item's vocoder noise, as torch.manual_seed(seed) does for one item


class ResblockPath(Protocol):
    """An engine's own way to run the generator's resblocks (``AdaINResBlock1``) on one unpadded item,
    giving what the masked path gives for it (the same statistics, the same convolutions)."""

    def covers(self, block: nn.Module) -> bool:
        """Whether this path was prepared for ``block``."""
        ...

    def __call__(self, block: nn.Module, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``block`` on x [1, C, T] with style s [1, style_dim] -> [1, C, T]."""
        ...


@dataclass(frozen=True)
class PreparedModel:
    """A loaded KModel as an engine left it; made by ``engines.apply_engine``, read by ``forward_batch``.

    ``kmodel``: the package's model, each module in the dtype the engine chose (the forward casts every
    stage's inputs to its module's dtype, and its outputs back to float32 where the next stage wants
    them). ``engine``: the engine's name. ``one_item_resblocks``: the engine's path for the generator's
    resblocks when a batch is one unpadded item (the CPU case), or None for the plain masked path.
    """

    kmodel: "KModel"
    engine: str
    one_item_resblocks: Optional[ResblockPath] = None

    @property
    def context_length(self) -> int:
        """Token ids the model takes, BOS and EOS included."""
        return self.kmodel.context_length

    @property
    def device(self) -> torch.device:
        return self.kmodel.device
