"""The text side of the batched forward, everything before the decoder (``kokoro.modules``, ``model.py``):
ids padded into a batch, ALBERT under an attention mask, the duration encoder, durations, each item's
own alignment, the prosody curves (F0, N) and the text encoder. Durations, and with them word
timestamps, are decided here; every engine keeps this side in float32 but the prosody stacks.
"""
from typing import TYPE_CHECKING, Sequence

import torch

from .adain import adain_resblk1d
from .inputs import BatchItem
from .masks import run_lstm, weights_dtype

if TYPE_CHECKING:
    from kokoro.model import KModel


def pad_ids(items: Sequence[BatchItem], device) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """(ids [B, T] with BOS/EOS 0 and 0-padding, lengths incl. BOS/EOS, text_mask [B, T] True on padding)."""
    lengths = [len(item.input_ids) + 2 for item in items]
    total = max(lengths)
    ids = torch.zeros(len(items), total, dtype=torch.long)
    for row, item in enumerate(items):
        ids[row, 1:1 + len(item.input_ids)] = torch.tensor(item.input_ids, dtype=torch.long)
    text_mask = torch.arange(total)[None, :] >= torch.tensor(lengths)[:, None]
    return ids.to(device), lengths, text_mask.to(device)


def bert(model: "KModel", ids: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """ALBERT + bert_encoder -> d_en [B, hidden, T]; the attention mask hides padded tokens."""
    bert_dur = model.bert(ids, attention_mask=(~text_mask).int())
    return model.bert_encoder(bert_dur).transpose(-1, -2)


def duration_encoder(model: "KModel", d_en: torch.Tensor, s: torch.Tensor, lengths: list[int],
                     text_mask: torch.Tensor) -> torch.Tensor:
    """predictor.text_encoder (DurationEncoder) -> d [B, T, hidden + style].

    The package's module is batch-correct as it is (it packs its LSTMs with the lengths and masks after
    every layer norm) and the one-item forward takes the same packed path, so it is called directly.
    """
    return model.predictor.text_encoder(d_en, s, torch.tensor(lengths), text_mask)


def durations(model: "KModel", d: torch.Tensor, lengths: list[int], speeds: torch.Tensor) -> torch.Tensor:
    """Frames per token [B, T] (int64), 0 on padded tokens: predictor.lstm (packed) + duration_proj."""
    x = run_lstm(model.predictor.lstm, d, lengths)
    duration = torch.sigmoid(model.predictor.duration_proj(x)).sum(dim=-1) / speeds[:, None]
    pred_dur = torch.round(duration).clamp(min=1).long()
    valid = torch.arange(d.shape[1], device=d.device)[None, :] < torch.tensor(lengths, device=d.device)[:, None]
    return pred_dur * valid


def alignment(pred_dur: torch.Tensor, dtype) -> tuple[torch.Tensor, list[int]]:
    """(alignment [B, T, F] with aln[b, t, f] = 1 iff frame f of item b speaks token t, frames per item).

    Each item's frames follow its own durations; frames past its end are all-zero columns.
    """
    end = pred_dur.cumsum(-1)                                          # [B, T]
    start = end - pred_dur
    frames = end[:, -1].tolist()
    f = torch.arange(max(frames), device=pred_dur.device)[None, None, :]
    aln = (f >= start[..., None]) & (f < end[..., None])
    return aln.to(dtype), frames


def prosody(model: "KModel", en: torch.Tensor, s: torch.Tensor,
            frames: list[int]) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """ProsodyPredictor.F0Ntrain -> (F0 [B, 2F], N [B, 2F], their lengths 2 * frames)."""
    pred = model.predictor
    x = run_lstm(pred.shared, en.transpose(-1, -2), frames).transpose(-1, -2)
    dtype = weights_dtype(pred.F0)   # bfloat16 under the torch-bf16 engine (engines/prepare.py)
    x, s = x.to(dtype), s.to(dtype)
    curves = []
    for blocks, proj in ((pred.F0, pred.F0_proj), (pred.N, pred.N_proj)):
        y, lengths = x, frames
        for block in blocks:
            y, lengths = adain_resblk1d(block, y, s, lengths)
        curves.append(proj(y).squeeze(1).float())  # 1x1 conv: frame-wise
    return curves[0], curves[1], lengths


def text_encoder(model: "KModel", ids: torch.Tensor, lengths: list[int], text_mask: torch.Tensor) -> torch.Tensor:
    """TextEncoder -> t_en [B, hidden, T]. Batch-correct as it is: it zeroes padding before each conv
    and packs its LSTM, exactly the path the one-item forward takes."""
    return model.text_encoder(ids, torch.tensor(lengths), text_mask)
