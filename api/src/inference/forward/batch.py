"""``forward_batch``: several chunks of different lengths in one pass through a prepared model's modules."""
from typing import Sequence

import numpy as np
import torch

from .inputs import BatchItem, PreparedModel
from .text_side import alignment, bert, duration_encoder, durations, pad_ids, prosody, text_encoder
from .vocoder import decoder


@torch.inference_mode()
def forward_batch(model: PreparedModel, items: Sequence[BatchItem],
                  half: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Synthesize several chunks in one pass through ``model``'s submodules (the model is not modified).

    Returns, per item and in order, (audio float32 [600 * pred_dur.sum()], pred_dur int64 [len(ids) + 2],
    BOS and EOS included). Under ``torch-fp32``, for each item, pred_dur is identical and the audio within
    1e-4 of ``torch.manual_seed(item.seed); kmodel.forward_with_tokens(tensor([[0, *ids, 0]]), item.ref_s,
    item.speed)`` (bit-identical for a batch of one); other engines are judged against ``torch-fp32``
    (tests/unit/test_engines.py). Items may have any lengths up to the model's context; the global RNG
    is neither used nor advanced.

    ``half`` (CUDA only; ignored elsewhere) runs ALBERT, the bulk of the text side's matmuls, under
    float16 autocast; everything after it stays float32. The 1e-4 promise then holds only as far as
    the equivalence test run on a GPU says (tests/unit/test_scheduler.py, skipped without one).
    """
    if not items:
        return []
    for item in items:
        if len(item.input_ids) + 2 > model.context_length:
            raise ValueError(f"{len(item.input_ids)} tokens exceed the model's {model.context_length - 2}")
    kmodel, device = model.kmodel, model.device
    ids, lengths, text_mask = pad_ids(items, device)
    ref_s = torch.cat([item.ref_s.reshape(1, -1) for item in items]).to(device)   # [B, 256]
    speeds = torch.tensor([float(item.speed) for item in items], device=device)
    s_prosody, s_decoder = ref_s[:, 128:], ref_s[:, :128]

    with torch.autocast("cuda", dtype=torch.float16, enabled=half and ids.device.type == "cuda"):
        d_en = bert(kmodel, ids, text_mask)
    d_en = d_en.float()
    d = duration_encoder(kmodel, d_en, s_prosody, lengths, text_mask)        # [B, T, 640]
    pred_dur = durations(kmodel, d, lengths, speeds)                         # [B, T]
    aln, frames = alignment(pred_dur, d.dtype)                               # [B, T, F]
    en = d.transpose(-1, -2) @ aln
    f0, n, _ = prosody(kmodel, en, s_prosody, frames)
    asr = text_encoder(kmodel, ids, lengths, text_mask) @ aln
    audios = decoder(kmodel, asr, f0, n, s_decoder, frames, [item.seed for item in items], model.one_item_resblocks)

    pred_dur = pred_dur.cpu()
    return [(audio.float().cpu().numpy(), pred_dur[row, :lengths[row]].numpy().astype(np.int64))
            for row, audio in enumerate(audios)]
