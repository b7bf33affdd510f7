"""StyleGAN2-ADA's resampling and activation ops, in the form of their pure-torch reference paths.

NVIDIA's ``torch_utils/ops`` (bias_act, upfirdn2d, conv2d_resample) use compiled CUDA kernels on
CUDA tensors and a plain-torch reference everywhere else; these functions restate that reference
path (written anew, not vendored: the originals are under NVIDIA's source-code license). The
CUDA kernels are not built or used here, on any device. Only the cases the networks of this
package use are covered: FIR filters given as 2-D tensors, linear and leaky-ReLU activations.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

#: Default gain of each activation: keeps the signal's second moment (He et al.) through it.
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2)}
LRELU_SLOPE = 0.2


def setup_filter(taps: Sequence[float]) -> torch.Tensor:
    """The 2-D low-pass filter of a 1-D tap list (outer product), normalised to unit DC gain.

    Upstream keeps short filters (fewer than 8 taps) non-separable, which is the case of the
    [1, 3, 3, 1] filter used throughout; it is stored as a buffer named ``resample_filter``.
    """
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def bias_act(x: torch.Tensor, bias: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             gain: float | None = None) -> torch.Tensor:
    """Add ``bias`` along ``dim``, apply the activation, scale by ``gain`` (default: the activation's)."""
    if bias is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + bias.reshape(shape)
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif act != "linear":
        raise ValueError(f"unsupported activation {act!r}")
    gain = ACTIVATION_GAIN[act] if gain is None else float(gain)
    return x * gain if gain != 1 else x


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Zero-stuff by ``up``, pad (x0, x1, y0, y1; negative crops), convolve with ``f``, keep every ``down``-th pixel.

    The filter is applied as a true convolution (flipped before ``conv2d``'s correlation) and
    scaled by ``gain`` (a 2-D filter carries the whole gain).
    """
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    kernel = (f * gain).to(x.dtype).flip([0, 1])[None, None].repeat(channels, 1, 1, 1)
    x = F.conv2d(x, kernel, groups=channels)
    return x[:, :, ::down, ::down]


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample by ``up`` with the FIR filter, padded so that the output is exactly ``up`` times larger."""
    taps = f.shape[-1]
    pad0, pad1 = (taps + up - 1) // 2, (taps - up) // 2
    return upfirdn2d(x, f, up=up, padding=(pad0, pad1, pad0, pad1), gain=up * up)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
                    padding: int = 0, groups: int = 1) -> torch.Tensor:
    """Convolution (``conv2d``'s correlation) with optional 2x up- or downsampling through the FIR filter.

    Follows the reference's routes so that rounding matches it: downsampling filters the padded
    input and then strides the convolution; upsampling runs a strided transposed convolution
    and then filters; otherwise a plain padded convolution.
    """
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample: up- and downsampling together is not supported")
    out_channels, in_per_group, kh, kw = w.shape
    taps = f.shape[-1]
    if down > 1:
        pad0, pad1 = padding + (taps - down + 1) // 2, padding + (taps - down) // 2
        x = upfirdn2d(x, f, padding=(pad0, pad1, pad0, pad1))
        return F.conv2d(x, w, stride=down, groups=groups)
    if up > 1:
        w = w.flip([2, 3])  # the transposed route convolves, so the correlation kernel is flipped
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        pad0 = padding + (taps + up - 1) // 2 - (kw - 1)
        pad1 = padding + (taps - up) // 2 - (kw - up)
        inner = max(min(-pad0, -pad1), 0)
        x = F.conv_transpose2d(x, w, stride=up, padding=inner, groups=groups)
        return upfirdn2d(x, f, padding=(pad0 + inner, pad1 + inner) * 2, gain=up * up)
    return F.conv2d(x, w, padding=padding, groups=groups)
