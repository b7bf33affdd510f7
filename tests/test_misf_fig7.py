"""Fig. 7 analysis: the NCC definition and a smoke run on random weights."""
import math

import pytest
import torch

from harness.registry import load_predictor
from misf.fig7 import fig7_values, hole_cells, ncc, plot_fig7


pytestmark = pytest.mark.usefixtures("one_thread")


def test_ncc_of_identical_features_is_one():
    features = torch.randn(3, 8, 5, 5)
    torch.testing.assert_close(ncc(features, features), torch.ones(3, dtype=torch.float64))


def test_ncc_is_affine_invariant_and_not_cosine():
    torch.manual_seed(0)
    a = torch.randn(2, 4, 6, 6)
    b = a + 0.5 * torch.randn(2, 4, 6, 6)
    reference = ncc(a, b)
    torch.testing.assert_close(ncc(3 * a - 2, b), reference)
    torch.testing.assert_close(ncc(a, 0.1 * b + 7), reference)
    torch.testing.assert_close(ncc(a, -b), -reference)
    cosine = torch.nn.functional.cosine_similarity(a.flatten(1), (b + 5).flatten(1)).double()
    assert (ncc(a, b + 5) - cosine).abs().min() > 0.1


def test_ncc_matches_pearson_and_region():
    torch.manual_seed(1)
    a, b = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    expected = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]).double())[0, 1]
    torch.testing.assert_close(ncc(a, b)[0], expected)
    region = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    region[..., :2, :] = True
    inside = torch.corrcoef(torch.stack([a[..., :2, :].flatten(), b[..., :2, :].flatten()]).double())[0, 1]
    torch.testing.assert_close(ncc(a, b, region)[0], inside)
    assert math.isnan(ncc(a, b, torch.zeros_like(region))[0])


def test_hole_cells_majority_rule():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :2] = 1  # half of the top-left 4x4 cell
    mask[..., 4:, 4:] = 1  # all of the bottom-right cell
    assert hole_cells(mask, (2, 2)).flatten().tolist() == [True, False, False, True]


def test_fig7_values_and_plot_on_random_weights(tmp_path):
    predictor = load_predictor("misf", checkpoint="random", seed=0)
    torch.manual_seed(2)
    items = []
    for index, ratio in enumerate([0.1, 0.1, 0.3, 0.5, 0.5]):
        mask = (torch.rand(1, 32, 32) < ratio).float()
        mask[:, 8:16, 8:16] = 1
        items.append((f"img{index}", f"{int(ratio * 100)}%", torch.rand(3, 32, 32), mask))
    df = fig7_values(predictor, items, batch_size=2)
    assert list(df["item_id"]) == [item[0] for item in items]
    assert df.attrs["untrained"] and df.attrs["level"] == 3
    for column in ["ncc_pre", "ncc_post", "ncc_post_vs_gt_pre", "ncc_pre_hole", "ncc_post_hole"]:
        assert df[column].between(-1, 1).all(), column
    path = plot_fig7(df, tmp_path / "fig7.png", "MISF, test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fig7_needs_feature_filtering():
    predictor = load_predictor("misf-en-decoder", checkpoint="random")
    with pytest.raises(ValueError, match="filters no features"):
        fig7_values(predictor, [("a", "all", torch.rand(3, 32, 32), torch.zeros(1, 32, 32))])
