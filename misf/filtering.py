"""MISF's per-pixel 3x3 filtering operator (misf.md §5-§6).

Each output value is a zero-padded 3x3 *correlation* of its own channel's neighbourhood with a
kernel predicted for that pixel: ``out[b,c,y,x] = sum_t k[b, 9c+t, y, x] * in[b, c, y+dy_t, x+dx_t]``
with row-major taps ``t = 3(dy+1) + (dx+1)``, no kernel normalisation and no bias.

The official code stacks nine shifted copies of the input (``[B,C,9,H,W]``) and, for the feature
level, first expands 576 predicted channels to 2304 (``repeat_interleave(4)``). :func:`pixel_filter`
computes the same values tap by tap into one output buffer, and reads the unexpanded kernels
through strided views: with ``c = repeat*g + m``, channel c's tap t uses raw channel
``(9c+t)//repeat = 9g + (9m+t)//repeat``, a fixed offset inside group g's nine raw channels. Its
backward pass is written the same way, so training never materialises the stack either.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

TAPS = 9  # 3x3 kernel; the only size MISF uses


def raw_channel(channel: int, tap: int, repeat: int) -> int:
    """Raw kernel channel used by feature ``channel`` at ``tap`` after ``repeat_interleave(repeat)``.

    E.g. for repeat 4, channel 0 uses 0,0,0,0,1,1,1,1,2 and channel 1 uses 2,2,2,3,3,3,3,4,4.
    """
    return (TAPS * channel + tap) // repeat


def expand_kernels(raw: torch.Tensor, repeat: int) -> torch.Tensor:
    """The official channel expansion, e.g. 576 -> 2304 for repeat 4 (square inputs, misf.md §6.2)."""
    return raw if repeat == 1 else raw.repeat_interleave(repeat, dim=1)


def pixel_filter(x: torch.Tensor, kernels: torch.Tensor, repeat: int = 1) -> torch.Tensor:
    """Filter ``x`` [B,C,H,W] with per-pixel kernels [B,9C/repeat,H,W] (``9c+t`` layout once expanded).

    ``repeat`` > 1 means ``kernels`` are raw predictions that the official code expands with
    :func:`expand_kernels`; the result equals ``reference_filter(x, expand_kernels(kernels, repeat))``.
    """
    batch, channels, height, width = x.shape
    if kernels.shape[0] != batch or kernels.shape[2:] != x.shape[2:]:
        raise ValueError(f"kernels {tuple(kernels.shape)} do not match input {tuple(x.shape)}")
    if channels % repeat or kernels.shape[1] * repeat != TAPS * channels:
        raise ValueError(f"{kernels.shape[1]} kernel channels x{repeat} do not fit {channels} input channels")
    return _PixelFilter.apply(x, kernels, repeat)


def _taps(repeat: int) -> Iterator[tuple[int, int, int, int]]:
    """(m, row, col, s): channel offset m within a group, tap position, raw offset within the group."""
    for m in range(repeat):
        for tap in range(TAPS):
            yield m, tap // 3, tap % 3, (TAPS * m + tap) // repeat


class _PixelFilter(torch.autograd.Function):
    """Tap-by-tap forward and backward; only the inputs are saved (the padding is redone)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kernels: torch.Tensor, repeat: int) -> torch.Tensor:
        ctx.save_for_backward(x, kernels)
        ctx.repeat = repeat
        batch, channels, height, width = x.shape
        groups = channels // repeat
        padded = F.pad(x, (1, 1, 1, 1)).view(batch, groups, repeat, height + 2, width + 2)
        raw = kernels.view(batch, groups, TAPS, height, width)
        out = x.new_zeros(batch, groups, repeat, height, width)
        for m, row, col, s in _taps(repeat):
            out[:, :, m].addcmul_(padded[:, :, m, row : row + height, col : col + width], raw[:, :, s])
        return out.view(batch, channels, height, width)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        x, kernels = ctx.saved_tensors
        repeat = ctx.repeat
        batch, channels, height, width = x.shape
        groups = channels // repeat
        padded = F.pad(x, (1, 1, 1, 1)).view(batch, groups, repeat, height + 2, width + 2)
        raw = kernels.view(batch, groups, TAPS, height, width)
        grad = grad.reshape(batch, groups, repeat, height, width)
        need_x, need_k = ctx.needs_input_grad[:2]
        grad_padded = x.new_zeros(padded.shape) if need_x else None
        grad_raw = kernels.new_zeros(raw.shape) if need_k else None
        for m, row, col, s in _taps(repeat):
            window = (slice(None), slice(None), m, slice(row, row + height), slice(col, col + width))
            if need_x:
                grad_padded[window].addcmul_(grad[:, :, m], raw[:, :, s])
            if need_k:
                grad_raw[:, :, s].addcmul_(grad[:, :, m], padded[window])
        grad_x = grad_padded[..., 1:-1, 1:-1].reshape(x.shape) if need_x else None
        grad_k = grad_raw.view(kernels.shape) if need_k else None
        return grad_x, grad_k, None


def reference_filter(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """The official form: stack nine shifted views, multiply by the [B,C,9,H,W] kernels, sum.

    ``kernels`` must already be expanded to 9C channels. Kept for tests and the benchmark.
    """
    batch, channels, height, width = x.shape
    padded = F.pad(x, (1, 1, 1, 1))
    stack = torch.stack(
        [padded[:, :, i : i + height, j : j + width] for i in range(3) for j in range(3)], dim=2
    )
    return (stack * kernels.view(batch, channels, TAPS, height, width)).sum(dim=2)
