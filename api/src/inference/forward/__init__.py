"""A batched forward over the `kokoro` package's KModel, matching its one-item forward item by item.

`KModel.forward_with_tokens` accepts one sequence at a time. `forward_batch` runs several chunks of
different lengths through the same submodules in one pass and promises, for every item (under
``torch-fp32``; other engines are judged against it):

- identical `pred_dur`, and
- max |audio difference| <= 1e-4 against
  ``torch.manual_seed(item.seed); kmodel.forward_with_tokens(tensor([[0, *ids, 0]]), ref_s, speed)``.
  A batch of one item gives the same bytes as that call.

Padding is what makes a naive batch wrong. Every place where one frame can see another is handled,
one concept per module:

- ``masks``: valid frames per item, padded frames zeroed before a convolution reads them (a kernel
  reaching past an item's end sees the zeros the unbatched run's own padding would give), LSTMs packed
  with each item's length (the backward direction starts at the item's own last step).
- ``adain``: InstanceNorm inside every AdaIN (prosody F0/N blocks, decoder, generator) with mean and
  variance over the item's valid frames only; padded frames in the statistics were by far the
  largest error.
- ``text_side``: ALBERT under an attention mask, durations, each item's own alignment (frames past
  an item's end are all-zero columns), the prosody curves, the text encoder.
- ``source``: the vocoder's harmonic source and STFT per item, on its own length and from its own
  seeded generator.
- ``vocoder``: decoder and generator, the iSTFT per item.
- ``inputs``: ``BatchItem`` and ``PreparedModel`` (the model as ``engines.apply_engine`` left it: its
  modules' dtypes, and the engine's own path for one unpadded item's generator resblocks).
- ``batch``: ``forward_batch``, the whole pass.

Weights are only read: nothing in the `kokoro` package is patched. The functions mirror the package's
modules (`modules.py`, `istftnet.py`) one by one; keep them in step when the package changes. Sorting
or bucketing items by length (to limit padding) is the caller's business.
"""
from .batch import forward_batch
from .inputs import BatchItem, PreparedModel, ResblockPath

__all__ = ["BatchItem", "PreparedModel", "ResblockPath", "forward_batch"]
