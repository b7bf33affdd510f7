"""CTSDG: strict loading of the official container, ground-truth edges with the uint8 wrap,
equivalence of the batched operators to the upstream per-image formulation, missing weights.

The expected state_dict layout is written out from the published architecture
(xiefan-guo/ctsdg ``models/generator/``; docs/baselines.md §7), not read from our module.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.color import rgb2gray
from skimage.feature import canny
from torchvision.transforms import ToPILImage

from baselines.ctsdg import gray_and_edges, normalise, wrap_to_uint8
from baselines.ctsdg_networks import RAL, PartialConv2d
from harness.checkpoints import MissingWeightsError
from harness.registry import load_predictor


def reference_shapes() -> dict[str, tuple[int, ...]]:
    """Published generator keys and shapes: 210 tensors, 52.15 M parameters."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, channels: int) -> None:
        for stat in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{stat}"] = (channels,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    for branch, cin in (("texture", 3), ("structure", 2)):
        encoder = [(cin, 64, 7), (64, 128, 5), (128, 256, 5), (256, 512, 3), (512, 512, 3), (512, 512, 3), (512, 512, 3)]
        for level, (a, b, k) in enumerate(encoder, start=1):
            shapes[f"ec_{branch}_{level}.conv.weight"] = (b, a, k, k)
            if level > 1:
                bn(f"ec_{branch}_{level}.bn", b)
        decoder = {7: (512 + 512, 512), 6: (512 + 512, 512), 5: (512 + 512, 512), 4: (512 + 256, 256),
                   3: (256 + 128, 128), 2: (128 + 64, 64), 1: (64 + cin, 64)}
        for level, (a, b) in decoder.items():
            shapes[f"dc_{branch}_{level}.conv.weight"] = (b, a, 3, 3)
            bn(f"dc_{branch}_{level}.bn", b)
    for kind, out in (("structure", 1), ("texture", 3)):
        head = f"{kind}_feature_projection"
        shapes[f"{head}.{kind}_resolver.conv1.weight"] = (16, 64, 3, 3)
        bn(f"{head}.{kind}_resolver.bn1", 16)
        shapes[f"{head}.{kind}_resolver.conv2.weight"] = (64, 16, 3, 3)
        bn(f"{head}.{kind}_resolver.bn2", 64)
        shapes[f"{head}.out_layer.0.weight"], shapes[f"{head}.out_layer.0.bias"] = (out, 64, 1, 1), (out,)

    def conv(name: str, cout: int, cin: int, k: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (cout, cin, k, k), (cout,)

    shapes["bigff.structure_gamma"] = shapes["bigff.texture_gamma"] = (1,)
    conv("bigff.structure_gate.0", 64, 128, 3)
    conv("bigff.texture_gate.0", 64, 128, 3)
    conv("fusion_layer1.0", 64, 128, 3)
    for branch in range(4):
        conv(f"cfa.msfa.dilated_conv_{branch}.0", 64, 64, 3)
    conv("cfa.msfa.weight_calc.0", 64, 64, 3)
    conv("cfa.msfa.weight_calc.2", 4, 64, 1)
    conv("fusion_layer2.0", 64, 128, 3)
    conv("out_layer.0", 3, 192, 1)
    return shapes


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in reference_shapes().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(1000)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        elif ".bn" in key and key.endswith(".weight"):
            state[key] = 1 + 0.02 * torch.randn(shape, generator=gen)
        else:
            state[key] = 0.02 * torch.randn(shape, generator=gen)
    return state


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    state = random_state_dict()
    params = sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k)
    assert (len(state), round(params / 1e6, 2)) == (210, 52.15)
    path = tmp_path_factory.mktemp("ctsdg") / "ctsdg_places2.pt"
    torch.save({"n_iter": 1, "generator": state, "discriminator": {"dummy.weight": torch.zeros(1)}}, path)
    return path


def _sample(size: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A ramp and a dark disc: both the wrap and the hole change the edges."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    disc = ((yy - 0.5) ** 2 + (xx - 0.5) ** 2 < 0.06).float()
    truth = torch.stack((xx, 0.5 * (xx + yy), 1 - yy))[None] * (1 - 0.6 * disc)
    truth = torch.round(truth * 255) / 255
    masks = torch.zeros(1, 1, size, size)
    masks[..., size // 3 : size // 2, size // 4 : 3 * size // 4] = 1
    return truth * (1 - masks), masks, truth


def test_loads_strictly_and_predicts(checkpoint):
    predictor = load_predictor("ctsdg", checkpoint=str(checkpoint))
    assert predictor.reads_ground_truth and predictor.size.native == 256
    images, masks, truth = _sample()
    seen = {}
    predictor.module.register_forward_pre_hook(lambda m, args: seen.update(inputs=args))
    out = predictor.predict(images, masks, ground_truth=truth)
    assert out.shape == (1, 3, 256, 256) and 0 <= out.min() and out.max() <= 1

    image, structure, valid = seen["inputs"]
    assert torch.equal(valid, 1 - masks)  # 1 = valid inside CTSDG
    assert torch.allclose(image, (truth * 2 - 1) * valid)  # [-1,1], holes 0
    gray, edges = gray_and_edges(normalise(truth), sigma=2.0)  # from the FULL ground truth
    assert torch.equal(structure, torch.cat((edges, gray), 1) * valid)
    from_zeroed = torch.cat(gray_and_edges(normalise(images), sigma=2.0), 1) * valid
    assert not torch.equal(structure, from_zeroed)
    with pytest.raises(ValueError, match="ground_truth"):
        predictor.predict(images, masks)


def test_wrap_matches_to_pil_image_and_the_published_values():
    x = torch.tensor([-1.0, -0.5, -0.2, -0.004, 0.0, 0.5, 1.0])
    assert wrap_to_uint8(x).tolist() == [1, 129, 205, 255, 0, 127, 255]
    image = torch.rand(3, 8, 8) * 2 - 1
    assert np.array_equal(wrap_to_uint8(image).permute(1, 2, 0).numpy(), np.array(ToPILImage()(image)))


def test_edges_come_from_the_wrapped_image():
    _, _, truth = _sample(64)
    gray, edges = gray_and_edges(normalise(truth), sigma=2.0)
    wrapped = np.array(ToPILImage()(normalise(truth)[0]))  # upstream utils/canny.py::image_to_edge
    assert np.allclose(gray[0, 0].numpy(), rgb2gray(wrapped), atol=1e-6)
    assert np.array_equal(edges[0, 0].numpy(), canny(rgb2gray(wrapped), sigma=2.0))
    naive = rgb2gray(truth[0].permute(1, 2, 0).double().numpy())  # what a "fixed" conversion would see
    assert not np.array_equal(edges[0, 0].numpy(), canny(naive, sigma=2.0))
    assert not np.allclose(gray[0, 0].numpy(), naive, atol=0.05)


def test_partial_conv_equals_the_upstream_all_ones_kernel():
    torch.manual_seed(0)
    conv = PartialConv2d(5, 7, 5, stride=2, padding=2)
    x = torch.randn(2, 5, 16, 16)
    mask = (torch.rand(2, 5, 16, 16) > 0.6).float()
    out, new_mask = conv(x, mask)
    counts = F.conv2d(mask, torch.ones(7, 5, 5, 5), stride=2, padding=2)
    update = counts.clamp(0, 1)
    expected = F.conv2d(x * mask, conv.weight, stride=2, padding=2) * (5 * 5 * 5 / (counts + 1e-8) * update)
    assert torch.allclose(out, expected, atol=1e-5) and torch.equal(new_mask, update)


def test_grouped_attention_equals_per_image_loop():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 16, 16)
    fg = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=True)
    expected = []
    for bg_item, fg_item in zip(x, fg):  # upstream formulation: one conv per image
        padded_bg, padded_fg = F.pad(bg_item, (1, 1, 1, 1)), F.pad(fg_item, (1, 1, 1, 1))
        paste = padded_bg.unfold(1, 4, 2).unfold(2, 4, 2).permute(1, 2, 0, 3, 4).reshape(-1, 4, 4, 4)
        query = padded_fg.unfold(1, 3, 1).unfold(2, 3, 1).permute(1, 2, 0, 3, 4).reshape(-1, 4, 3, 3)
        query = query / torch.max(query.pow(2).sum((1, 2, 3), keepdim=True).sqrt(), torch.tensor([1e-4]))
        attention = F.softmax(F.conv2d(fg_item[None], query, padding=1) * 10, dim=1).clamp(min=1e-8)
        expected.append(F.conv_transpose2d(attention, paste, stride=2, padding=1) / 4)
    assert torch.allclose(RAL()(x, x), torch.cat(expected), atol=1e-5)


def test_missing_weights_name_the_official_folder(tmp_path):
    with pytest.raises(MissingWeightsError, match="1lcATVc_U7plyEI__j5NWKCmKV_MNuhwq") as error:
        load_predictor("ctsdg", dataset="celeba")
    assert "ctsdg_celeba.pt" in str(error.value)
