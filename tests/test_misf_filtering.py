"""The per-pixel filtering op against the official stacked form and hand-built examples (docs/misf.md §5-§6)."""
import pytest
import torch
import torch.nn.functional as F

from misf.filtering import expand_kernels, pixel_filter, raw_channel, reference_filter


def official_expand(raw: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The official code's expansion: a 3-D nearest resize of [1,B,576,h,w] to (2304, W, H)."""
    return F.interpolate(raw.unsqueeze(0), size=(raw.shape[1] * 4, width, height), mode="nearest").squeeze(0)


@pytest.mark.parametrize("channels,repeat,size", [(3, 1, 9), (8, 1, 5), (8, 2, 6), (16, 4, 7), (256, 4, 4)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_matches_reference(channels, repeat, size, dtype):
    """Within 1e-6; float32 inputs are image-like ([0,1], kernels summing to about 1) since the
    summation order differs from the stacked form's."""
    torch.manual_seed(channels + repeat)
    x = torch.rand(2, channels, size, size, dtype=dtype)
    raw = torch.rand(2, 9 * channels // repeat, size, size, dtype=dtype) / 4.5
    expected = reference_filter(x, expand_kernels(raw, repeat))
    torch.testing.assert_close(pixel_filter(x, raw, repeat), expected, atol=1e-6, rtol=0)


def test_gradients_match_reference():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    raw = torch.randn(2, 18, 6, 6, requires_grad=True)
    grad = torch.randn(2, 8, 6, 6)
    ours = torch.autograd.grad(pixel_filter(x, raw, 4), (x, raw), grad)
    theirs = torch.autograd.grad(reference_filter(x, expand_kernels(raw, 4)), (x, raw), grad)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    small = (torch.randn(1, 4, 4, 4, dtype=torch.float64, requires_grad=True),
             torch.randn(1, 18, 4, 4, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(lambda a, k: pixel_filter(a, k, 2), small)


def test_repeat_interleave_equals_official_nearest_expansion():
    raw = torch.randn(2, 576, 8, 8)
    assert torch.equal(expand_kernels(raw, 4), official_expand(raw, 8, 8))


def test_channel_map_published_examples():
    assert [raw_channel(0, t, 4) for t in range(9)] == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    assert [raw_channel(1, t, 4) for t in range(9)] == [2, 2, 2, 3, 3, 3, 3, 4, 4]
    assert [raw_channel(255, t, 4) for t in range(9)] == [573, 574, 574, 574, 574, 575, 575, 575, 575]


def test_hand_built_taps_and_channel_map():
    """Raw channel r holds the value r; a unit impulse at each neighbour reads back one kernel tap."""
    channels, size = 256, 3
    raw = torch.arange(576.0).view(1, 576, 1, 1).expand(1, 576, size, size).contiguous()
    for tap in range(9):
        dy, dx = tap // 3 - 1, tap % 3 - 1
        x = torch.zeros(1, channels, size, size)
        x[:, :, 1 + dy, 1 + dx] = 1.0
        out = pixel_filter(x, raw, repeat=4)[0, :, 1, 1]
        expected = torch.tensor([float(raw_channel(c, tap, 4)) for c in range(channels)])
        assert torch.equal(out, expected), f"tap {tap}"


def test_correlation_not_convolution_and_zero_padding():
    x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    kernels = torch.zeros(1, 9, 3, 3)
    kernels[:, 0] = 1.0  # tap 0 = neighbour above-left (dy = dx = -1)
    out = pixel_filter(x, kernels)[0, 0]
    expected = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 4.0, 5.0]])
    assert torch.equal(out, expected)


def test_no_kernel_normalisation():
    x = torch.ones(1, 3, 4, 4)
    kernels = torch.full((1, 27, 4, 4), 2.0)
    assert pixel_filter(x, kernels)[0, 0, 1, 1] == 18.0


def test_rejects_mismatched_kernels():
    with pytest.raises(ValueError):
        pixel_filter(torch.zeros(1, 256, 4, 4), torch.zeros(1, 576, 4, 4), repeat=1)
    with pytest.raises(ValueError):
        pixel_filter(torch.zeros(1, 3, 4, 4), torch.zeros(1, 27, 4, 5))
