"""Lengths and masks: where one item's padding could reach another's frames, and how the forward stops it.

Shared by every stage of the batched forward: which frames of each item are valid, zeroing padded
frames before a convolution reads them, convolution output lengths, LSTMs packed by length, and the
dtype an engine left a module in (each stage casts its inputs to it).
"""
from typing import Optional, Sequence, Union

import torch
from torch import nn


def valid_mask(lengths: Sequence[int], total: int, device) -> Optional[torch.Tensor]:
    """[B, 1, total] True on each item's valid frames, or None when no item is padded (nothing to mask)."""
    if all(n == total for n in lengths):
        return None
    n = torch.tensor(list(lengths), device=device)
    return (torch.arange(total, device=device)[None, :] < n[:, None]).unsqueeze(1)


def weights_dtype(module: nn.Module) -> torch.dtype:
    """The dtype ``module``'s weights are kept in (what its inputs must be cast to)."""
    return next(module.parameters()).dtype


def zero_padding(x: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
    """x [B, C, T] with every padded frame set to 0 (what a convolution's zero padding assumes is there)."""
    return x if valid is None else x.masked_fill(~valid, 0.0)


def conv_out_len(conv: Union[nn.Conv1d, nn.ConvTranspose1d], n: int) -> int:
    """Output length of a Conv1d / ConvTranspose1d for an input of length n (PyTorch's formulas)."""
    assert not isinstance(conv.padding, str), "kokoro's convs pad by a number of frames, not 'same'/'valid'"
    (k,), (s,), (p,), (d,) = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    if isinstance(conv, nn.ConvTranspose1d):
        return (n - 1) * s - 2 * p + d * (k - 1) + conv.output_padding[0] + 1
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def run_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
    """A batch-first bidirectional LSTM over x [B, T, C]; padded steps come out as 0.

    Packed when items differ in length: unpacked, the backward direction would start in the padding.
    With no padding it runs unpacked, exactly like the one-item forward does for these LSTMs.
    """
    total = x.shape[1]
    if all(n == total for n in lengths):
        out, _ = lstm(x)
        return out
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(list(lengths)), batch_first=True,
                                               enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=total)
    return out
