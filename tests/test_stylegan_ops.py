"""The StyleGAN2-ADA ops against scipy's upfirdn and against the other routes of the reference path.

An asymmetric filter makes a flipped filter visible; float64 data makes route differences exact to
rounding. Upstream's ``conv2d_resample`` pads once and has a generic fallback (resample with the
filter, then convolve, or convolve, then filter and subsample) that the fast routes must equal.
"""
import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from baselines.stylegan_ops import bias_act, conv2d_resample, setup_filter, upfirdn2d, upsample2d

TAPS = [1.0, 2.0, 5.0, 1.0]


def test_upsample_is_scipy_upfirdn_along_both_axes():
    x = torch.randn(1, 1, 5, 6, dtype=torch.float64)
    taps = np.array(TAPS) / sum(TAPS) * 2  # per-axis share of the gain up**2

    def along(a: np.ndarray, axis: int) -> np.ndarray:
        return np.apply_along_axis(lambda v: scipy.signal.upfirdn(taps, v, up=2), axis, a)

    full = along(along(x[0, 0].numpy(), 0), 1)  # the full convolution of the zero-stuffed image
    got = upsample2d(x, setup_filter(TAPS).double())[0, 0].numpy()
    # upsample2d pads (2, 1) before a 4-tap valid convolution: the full result from index 1.
    np.testing.assert_allclose(got, full[1:11, 1:13], rtol=0, atol=1e-6)  # the filter is float32, as upstream


@pytest.mark.parametrize("up,down", [(2, 1), (1, 2), (1, 1)])
def test_conv2d_resample_equals_the_generic_route(up, down):
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    f = setup_filter(TAPS).double()
    got = conv2d_resample(x, w, f, up=up, down=down, padding=1)
    if up > 1:  # zero-stuff, pad and filter once, then a valid convolution
        expected = F.conv2d(upfirdn2d(x, f, up=2, padding=(3, 2, 3, 2), gain=4), w)
    elif down > 1:  # pad, valid convolution, then filter and keep every second pixel
        expected = upfirdn2d(F.conv2d(F.pad(x, [2, 2, 2, 2]), w), f, down=2)
    else:
        expected = F.conv2d(x, w, padding=1)
    assert got.shape == (2, 4, 8 * up // down, 8 * up // down)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_bias_act_leaky_relu_with_gain():
    x, b = torch.tensor([[-1.0, 2.0]]), torch.tensor([0.5, -1.0])
    expected = torch.tensor([[-0.5 * 0.2, 1.0]]) * 2 ** 0.5
    torch.testing.assert_close(bias_act(x, b, act="lrelu"), expected)
    torch.testing.assert_close(bias_act(x, b, act="linear"), x + b)
