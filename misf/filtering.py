"""MISF's per-pixel 3x3 filtering operator (docs/misf.md §5-§6).

Each output value is a zero-padded 3x3 *correlation* of its own channel's neighbourhood with a
kernel predicted for that pixel: ``out[b,c,y,x] = sum_t k[b, 9c+t, y, x] * in[b, c, y+dy_t, x+dx_t]``
with row-major taps ``t = 3(dy+1) + (dx+1)``, no kernel normalisation and no bias.

The official code stacks nine shifted copies of the input (``[B,C,9,H,W]``) and, for the feature
level, first expands 576 predicted channels to 2304 (``repeat_interleave(4)``). :func:`pixel_filter`
computes the same values tap by tap into one output buffer, reading each tap's in-bounds window
instead of a padded copy, and reads the unexpanded kernels through strided views: with
``c = repeat*g + m``, channel c's tap t uses raw channel ``(9c+t)//repeat = 9g + (9m+t)//repeat``,
a fixed offset inside group g's nine raw channels. The backward pass works the same way, so
training never materialises the stack or the expanded kernels either.
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
    """The official channel expansion, e.g. 576 -> 2304 for repeat 4 (square inputs, docs/misf.md §6)."""
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


Window = tuple[slice, slice]


def _taps(repeat: int, height: int, width: int) -> Iterator[tuple[int, int, Window, Window]]:
    """(m, s, target, source) per tap: channel offset m in a group, raw offset s in the group, and
    the output window that reads the in-bounds input window (the zero padding contributes nothing)."""
    for m in range(repeat):
        for tap in range(TAPS):
            dy, dx = tap // 3 - 1, tap % 3 - 1
            rows, cols = slice(max(0, -dy), height - max(0, dy)), slice(max(0, -dx), width - max(0, dx))
            shifted = (slice(rows.start + dy, rows.stop + dy), slice(cols.start + dx, cols.stop + dx))
            yield m, (TAPS * m + tap) // repeat, (rows, cols), shifted


class _PixelFilter(torch.autograd.Function):
    """Tap-by-tap forward and backward on in-bounds windows: no padded copy, only inputs saved."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kernels: torch.Tensor, repeat: int) -> torch.Tensor:
        ctx.save_for_backward(x, kernels)
        ctx.repeat = repeat
        batch, channels, height, width = x.shape
        groups = channels // repeat
        grouped = x.view(batch, groups, repeat, height, width)
        raw = kernels.view(batch, groups, TAPS, height, width)
        out = x.new_zeros(grouped.shape)
        for m, s, target, source in _taps(repeat, height, width):
            out[:, :, m][..., target[0], target[1]].addcmul_(
                grouped[:, :, m][..., source[0], source[1]], raw[:, :, s][..., target[0], target[1]]
            )
        return out.view(x.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        x, kernels = ctx.saved_tensors
        repeat = ctx.repeat
        batch, channels, height, width = x.shape
        groups = channels // repeat
        grouped = x.view(batch, groups, repeat, height, width)
        raw = kernels.view(batch, groups, TAPS, height, width)
        grad = grad.reshape(grouped.shape)
        need_x, need_k = ctx.needs_input_grad[:2]
        grad_x = x.new_zeros(grouped.shape) if need_x else None
        grad_raw = kernels.new_zeros(raw.shape) if need_k else None
        for m, s, target, source in _taps(repeat, height, width):
            grad_window = grad[:, :, m][..., target[0], target[1]]
            if need_x:
                kernel_window = raw[:, :, s][..., target[0], target[1]]
                grad_x[:, :, m][..., source[0], source[1]].addcmul_(grad_window, kernel_window)
            if need_k:
                input_window = grouped[:, :, m][..., source[0], source[1]]
                grad_raw[:, :, s][..., target[0], target[1]].addcmul_(grad_window, input_window)
        return (
            grad_x.view(x.shape) if need_x else None,
            grad_raw.view(kernels.shape) if need_k else None,
            None,
        )


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
